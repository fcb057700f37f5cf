import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parsePlist } from 'plist';
import type { ExposeSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { expose } from '../../src/engine/expose.js';
import { up } from '../../src/engine/converge.js';
import { loadState } from '../../src/engine/state-store.js';
import { HostaliasError } from '../../src/model/errors.js';
import { currentRuntime } from '../../src/exec/runtime.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { lastRelayError } from '../../src/platform/darwin/expose-check.js';
import { forwardJob } from '../../src/platform/darwin/forward-launchd.js';
import { renderPlist } from '../../src/platform/darwin/launchd.js';
import { FakeMac, type LaunchdPlist, MAC_UIDS, MacRootFs, xnuBindError } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

// The relays of `expose` on macOS, against what XNU and launchd do: who may bind what
// (bsd/netinet/in_pcb.c, in_pcbbind), who may open the log (launchd), and what an expose that
// can't work does. The FakeMac models both (test/support/fake-mac.ts: xnuBindError, startDaemon).
const IP = '10.254.254.254';
const HTTP: ExposeSpec = { port: 80, proto: 'tcp', to: 80, keepSource: false };
const PG: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: false };
const label = (port: number) => `dev.hostalias.forward.${port}-tcp`;
const plistOf = (port: number) => `/Library/LaunchDaemons/${label(port)}.plist`;
const logOf = (port: number) => `/var/log/${label(port)}.log`;

async function mac(t: TestContext): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  return { ctx: { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} }, mac: m, fs };
}

const answers = (reply: string) => () => reply;

test('in_pcb.c: a relay binding the alias below 1024 needs root (EACCES otherwise); expose 80 behind Valet works because the relay runs as root', async (t) => {
  // in_pcbbind (XNU_TARGET_OS_OSX): lport < IPPORT_RESERVED on a specific address → priv_check_cred(PRIV_NETINET_RESERVEDPORT) → EACCES.
  assert.equal(xnuBindError(MAC_UIDS.nobody as number, IP, 80, 'tcp', []), 'EACCES');
  assert.equal(xnuBindError(MAC_UIDS.nobody as number, '*', 80, 'tcp', []), null, 'macOS lets any user bind below 1024 on INADDR_ANY');
  assert.equal(xnuBindError(0, IP, 80, 'tcp', []), null);

  const { ctx, mac: m, fs } = await mac(t);
  // Laravel Valet's nginx: root, on 127.0.0.1:80.
  m.sockets.push({ addr: '127.0.0.1', port: 80, proto: 'tcp', uid: 0 });
  m.services.set(80, answers('HTTP/1.1 200 OK\r\n\r\n'));
  const res = await expose(ctx, HTTP);
  assert.ok(
    res.plan.notes.some((n) => n.text === `the relay ${label(80)} accepts connections on ${IP}:80`),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  assert.deepEqual(res.plan.warnings, []);
  const job = parsePlist((await fs.read(plistOf(80))) as string) as LaunchdPlist;
  assert.equal(job.UserName, undefined, 'no UserName: launchd runs it as root');
  assert.deepEqual(m.listening.get(label(80)), { addr: IP, port: 80, proto: 'tcp', uid: 0 });

  // Negative control: the same job as nobody (what hostalias used to install; its log made nobody's
  // so launchd starts it) never listens, and says why in its log.
  await fs.write(logOf(80), '', 0o644);
  m.owners.set(logOf(80), { uid: MAC_UIDS.nobody as number, mode: 0o644 });
  await m.startDaemon(label(80), { ...job, UserName: 'nobody' });
  assert.equal(m.listening.has(label(80)), false);
  assert.deepEqual(lastRelayError((await fs.read(logOf(80))) ?? ''), {
    message: `listening on ${IP}:80/tcp: ports below 1024 need root`,
    fix: 'run it with sudo',
  });
});

test('in_pcb.c: a user other than root gets EADDRINUSE on the alias when another user holds *:PORT; the root relay binds beside it', async (t) => {
  // Postgres.app run by the login user (uid 501) listening on *:5432.
  const user = { addr: '*', port: 5432, proto: 'tcp' as const, uid: 501 };
  assert.equal(xnuBindError(MAC_UIDS.nobody as number, IP, 5432, 'tcp', [user]), 'EADDRINUSE', 'the uid check of in_pcbbind');
  assert.equal(xnuBindError(501, IP, 5432, 'tcp', [user]), null, 'the same user may');
  assert.equal(xnuBindError(0, IP, 5432, 'tcp', [user]), null, 'root skips it; SO_REUSEADDR (libuv) makes the second lookup exact');
  assert.equal(xnuBindError(0, IP, 53, 'udp', [{ ...user, port: 53, proto: 'udp' }]), 'EADDRINUSE', 'UDP without SO_REUSEADDR: the wildcard holder conflicts');

  const { ctx, mac: m } = await mac(t);
  m.sockets.push(user);
  m.services.set(5432, answers('pg'));
  const res = await expose(ctx, PG);
  assert.deepEqual(res.plan.warnings, []);
  assert.equal(m.listening.get(label(5432))?.uid, 0);
});

test("an expose that can not work fails with the relay's reason and is undone (no exit 0 with a warning); another process on ALIAS:PORT does not count as the relay", async (t) => {
  // A `hostalias forward 5432` left running in a terminal, on the alias itself: nobody may bind there, root neither.
  const squatter = { addr: IP, port: 5432, proto: 'tcp' as const, uid: 501 };
  const failsWithReason = (err: unknown) => {
    assert.ok(err instanceof HostaliasError, String(err));
    assert.equal(err.code, 'failed');
    assert.match(err.message, new RegExp(`relay ${label(5432).replace(/\./g, '\\.')} does not accept connections on ${IP}:5432`));
    assert.match(err.message, /listening on 10\.254\.254\.254:5432\/tcp: the port is already in use/);
    assert.match(err.message, /undone: the setup is as it was before/);
    assert.equal(err.fix, 'see what listens there: sudo lsof -nP -iTCP:5432 -sTCP:LISTEN', 'the Mac command, not Linux ss');
    return true;
  };

  // On a Mac set up before: back to that setup.
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, {});
  const before = await loadState(fs);
  m.sockets.push(squatter);
  assert.equal((await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432'])).code, 0, 'negative control: a connection alone succeeds (that process answers)');
  await assert.rejects(expose(ctx, PG), failsWithReason);
  assert.deepEqual((await loadState(fs))?.desired, before?.desired);
  assert.equal(await fs.read(plistOf(5432)), null);
  assert.equal(m.daemons.size, 0);
  assert.ok(m.aliases.has(IP), 'the alias stays: it was there before');

  // On a fresh Mac: nothing left, the alias expose brought up included.
  const fresh = await mac(t);
  fresh.mac.sockets.push(squatter);
  await assert.rejects(expose(fresh.ctx, PG), failsWithReason);
  assert.equal(await loadState(fresh.fs), null);
  assert.equal(fresh.mac.aliases.size, 0);
  assert.deepEqual(fresh.mac.system().loaded, []);
});

test("launchd opens the log as the job's user and does not start a job that can't (EX_CONFIG): the relay plan logs where its user, root, can write", async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.services.set(5432, answers('pg'));
  await expose(ctx, PG);
  const job = parsePlist((await fs.read(plistOf(5432))) as string) as LaunchdPlist;
  assert.deepEqual([job.UserName, job.StandardOutPath, job.StandardErrorPath], [undefined, logOf(5432), logOf(5432)]);
  assert.equal(m.lastExit.get(label(5432)), undefined);
  assert.ok(m.listening.has(label(5432)), 'root opens /var/log/… and the relay runs');

  // Negative control: as nobody, /var/log (root:wheel 0755) refuses the file, and launchd runs nothing.
  const asNobody = renderPlist({ ...forwardJob({ ...PG, targets: [] }, IP, currentRuntime()), userName: 'nobody' });
  assert.match(asNobody, /<key>UserName<\/key>\s*<string>nobody<\/string>/);
  await m.startDaemon(label(5432), { ...job, UserName: 'nobody' });
  assert.equal(m.lastExit.get(label(5432)), 78);
  assert.equal(m.listening.has(label(5432)), false);
  assert.match((await m.run(['launchctl', 'print', `system/${label(5432)}`])).stdout, /last exit code = 78: EX_CONFIG/);
  // …and does once the file is that user's (the rule, not a blanket refusal).
  await fs.write(logOf(5432), '', 0o644);
  m.owners.set(logOf(5432), { uid: MAC_UIDS.nobody as number, mode: 0o644 });
  m.lastExit.delete(label(5432));
  await m.startDaemon(label(5432), { ...job, UserName: 'nobody' });
  assert.equal(m.lastExit.get(label(5432)), undefined);
  assert.equal(m.listening.get(label(5432))?.uid, MAC_UIDS.nobody);
});
