/**
 * End to end: a dev server bound to [::1]:PORT only (as Vite & co. are with Node >= 17),
 * a real dockerd in a lab namespace, busybox containers that use the alias's name.
 * - `expose PORT` picks a relay, written as a systemd unit; systemd doesn't run in the lab, so the
 *   test starts the unit's own ExecStart line, as systemd would. A container reaches the server
 *   by name; doctor says so; `forward PORT` is refused (exit 3) and changes nothing; after
 *   `unexpose` the unit is gone and the container is refused again.
 * - `forward PORT` with no --to reaches the ::1 server.
 * - `expose` on a 127.0.0.1 server still uses kernel rules: no unit, no relay socket.
 * - The user never has to know the family: the relay a ::1 server got keeps reaching it when the
 *   server restarts on 127.0.0.1 and back on ::1, and a port exposed before its server starts
 *   (on ::1) is reached once it does — nothing is re-run.
 * Traffic stays inside the namespaces this file creates.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { stopChild } from '../lab/exec.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { execStart, rooted, snapshot, spawnUntil, tempRoot, cliFix } from '../support/e2e.js';
import { mkdir, rm } from 'node:fs/promises';
import { RUNTIME_CURRENT, RUNTIME_DIR } from '../../src/exec/runtime.js';

const ALIAS = '10.254.254.254';
const NAME = 'host.docker.internal';

interface Finding {
  id: string;
  status: string;
  message: string;
  fix: string | null;
}

/** Spawns `argv` in `ns`; resolves once it printed a line containing `needle`. */

/**
 * A lab namespace with dockerd, a busybox image and the alias up (`up --persist none`); all removed
 * after the test. With `systemd` (the default) the files root says systemd runs (its
 * /run/systemd/system), so relays are installed as units, which the test starts itself (service
 * managers are not called under --files-root); without, the root is a machine where none runs.
 */
async function lab(t: TestContext, tag: string, opts: { systemd?: boolean } = {}) {
  const ns = await withNetns(t, tag);
  const d = await startDockerd(ns);
  t.after(() => d.stop());
  const image = await buildBusyboxImage(d);
  const root = await tempRoot(t, tag);
  if (opts.systemd !== false) await mkdir(join(root, 'run/systemd/system'), { recursive: true });
  const cli = (args: readonly string[]) => runCli(ns, [...args, '--files-root', root], { env: d.env });
  const up = await cli(['up', '--persist', 'none']);
  assert.equal(up.code, 0, up.stderr);
  return {
    ns,
    d,
    image,
    root,
    cli,
    /** A new connection from a fresh container to NAME:p, by name as `hostalias flags` / `run` give it; what it read. */
    container: async (p: number) =>
      (
        await d.docker(['run', '--rm', '--add-host', `${NAME}:${ALIAS}`, image, 'sh', '-c', `sleep 1 | nc -w 2 ${NAME} ${p}`], {
          allowFail: true,
          timeoutMs: 30_000,
        })
      ).stdout.trim(),
    doctor: async (): Promise<Finding[]> => JSON.parse((await cli(['doctor', '--json'])).stdout).findings as Finding[],
    /** The listening TCP sockets on `port`, as `ss -ltn` shows them (sorted). */
    listening: async (port: number) =>
      (await ns.exec(['ss', '-Hltn', `sport = :${port}`])).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/\s+/)[3])
        .sort(),
    /** What systemd would start for the expose relay of `port` (plus --files-root, where this test keeps the state the relay reads). */
    startRelay: (port: number) => {
      const argv = execStart(readFileSync(join(root, `etc/systemd/system/hostalias-forward-${port}-tcp.service`), 'utf8'));
      return spawnUntil(t, ns, [...rooted(argv, root), '--files-root', root], 'forwarding');
    },
  };
}

const listenerFinding = (fs: Finding[], re: RegExp) => fs.find((f) => f.id === 'listeners' && re.test(f.message));

test('a ::1-only dev server: expose (relay), forward with no --to, unexpose, conflicts, doctor; 127.0.0.1 stays on kernel rules', async (t) => {
  const { ns, image, root, cli, container, doctor, listening, startRelay } = await lab(t, 'xv6');

  const server = await startReplyServer(ns, { host: '::1', reply: 'vite-ok\n' });
  t.after(() => server.stop());
  const port = server.port;
  assert.deepEqual(await listening(port), [`[::1]:${port}`], 'the server listens on [::1] only');

  assert.equal(await container(port), '', 'before expose: refused');
  const before = listenerFinding(await doctor(), new RegExp(`\\[::1\\]:${port}`));
  assert.equal(before?.status, 'warn', JSON.stringify(before));
  assert.equal(before?.fix, cliFix(`expose ${port} --files-root ${root}`), 'the fix is the command that works');

  // expose: ::1 only → a relay, installed like forward --install.
  const exposed = await cli(['expose', String(port), '--json']);
  assert.equal(exposed.code, 0, exposed.stderr);
  const res = (JSON.parse(exposed.stdout) as { decisions: Array<{ via: string; reason: string }> }).decisions[0];
  assert.equal(res?.via, 'relay');
  assert.match(res?.reason ?? '', /\[::1\]:\d+ only/);
  const unitPath = join(root, `etc/systemd/system/hostalias-forward-${port}-tcp.service`);
  const unit = readFileSync(unitPath, 'utf8');
  assert.ok(lstatSync(join(root, `etc/systemd/system/multi-user.target.wants/hostalias-forward-${port}-tcp.service`)).isSymbolicLink(), 'enabled at boot');
  const argv = execStart(unit);
  assert.deepEqual(argv.slice(2), ['forward', `${port}/tcp`, '--listen', ALIAS, '--for-expose']);
  const statusText = (await cli(['status'])).stdout;
  assert.match(
    statusText,
    new RegExp(
      `exposed +${ALIAS.replace(/\./g, '\\.')}:${port}/tcp → 127\\.0\\.0\\.1:${port} or \\[::1\\]:${port} \\(relay: hostalias-forward-${port}-tcp\\.service, data path: C\\)`,
    ),
  );
  assert.equal((await ns.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout.includes(`dport ${port}`), false, 'no DNAT rule for a relayed port');

  // The unit runs the installed copy, which `up --files-root` put under the root too.
  assert.deepEqual(argv.slice(0, 2), [`${RUNTIME_CURRENT}/node`, `${RUNTIME_CURRENT}/main.js`]);
  const relay = await startRelay(port);
  assert.equal(await container(port), 'vite-ok', 'a container reaches the ::1 server by name through the relay');
  const after = await doctor();
  const relayed = listenerFinding(after, new RegExp(`\\[::1\\]:${port}`));
  assert.equal(relayed?.status, 'ok', JSON.stringify(after.filter((f) => f.id === 'listeners')));
  assert.match(relayed?.message ?? '', /relayed by hostalias-forward-\d+-tcp\.service/);

  // forward on the exposed port: refused with the fix, nothing changed.
  const snap = await snapshot(root);
  const fwd = await cli(['forward', String(port)]);
  assert.equal(fwd.code, 3, `${fwd.stdout}${fwd.stderr}`);
  assert.match(fwd.stderr, /exposed through hostalias's own relay/);
  assert.match(fwd.stderr, new RegExp(`unexpose ${port}/tcp`));
  const fwdInstall = await cli(['forward', String(port), '--install']);
  assert.equal(fwdInstall.code, 3, fwdInstall.stderr);
  assert.deepEqual(await snapshot(root), snap, 'refused: no file changed');
  assert.equal(await container(port), 'vite-ok', 'and the expose still works');

  // unexpose: the unit goes (systemctl stop is skipped under --files-root: the test stops the relay as systemd would).
  const un = await cli(['unexpose', String(port)]);
  assert.equal(un.code, 0, un.stderr);
  // One line per fact: the installed copy's removal is a step per file, said once.
  const lines = un.stdout.split('\n').filter(Boolean);
  assert.deepEqual(lines, [...new Set(lines)], `no line repeats:\n${un.stdout}`);
  assert.equal(lines.filter((l) => /^✓ remove hostalias \S+, which no unit runs any more$/.test(l)).length, 1, un.stdout);
  assert.equal(existsSync(unitPath), false, 'unexpose removed the unit');
  await stopChild(relay);
  assert.equal(await container(port), '', 'after unexpose: refused again');

  // Forced onto kernel rules, the ::1 server is refused, and doctor names the family mismatch.
  const forced = await cli(['expose', String(port), '--via', 'kernel', '--json']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match((JSON.parse(forced.stdout) as { notes: string[] }).notes.join('\n'), /can't reach.*--via relay/);
  const probed = JSON.parse((await cli(['doctor', '--json', '--probe', String(port), '--image', image])).stdout).findings as Finding[];
  const mismatch = listenerFinding(probed, new RegExp(`\\[::1\\]:${port}`));
  assert.equal(mismatch?.status, 'warn', JSON.stringify(probed.filter((f) => f.id === 'listeners')));
  assert.match(mismatch?.message ?? '', /kernel rules, which reach 127\.0\.0\.1:\d+ only, and the service listens on ::1/);
  const refused = probed.find((f) => f.id === 'probe' && f.message.includes(`:${port}: refused`));
  assert.equal(refused?.status, 'fail', JSON.stringify(probed.filter((f) => f.id === 'probe')));
  assert.match(refused?.message ?? '', /listens on \[::1\]:\d+ only.*rewrite to 127\.0\.0\.1/);
  assert.equal(refused?.fix, cliFix(`expose ${port} --files-root ${root}`));
  assert.equal(mismatch?.fix, refused?.fix);
  const fixed = await cli(['expose', String(port), '--json']);
  assert.equal((JSON.parse(fixed.stdout) as { decisions: Array<{ via: string }> }).decisions[0]?.via, 'relay', 'the fix re-decides: a relay');
  assert.ok(existsSync(unitPath));
  assert.equal((await cli(['unexpose', String(port)])).code, 0);
  assert.equal(existsSync(unitPath), false);

  // forward with no --to: connects the way a local client of localhost does.
  // (The CLI as installed: the unit's copy under the root went with the last relay.)
  assert.equal(existsSync(join(root, RUNTIME_DIR)), false, 'no relay left: the installed copy is removed');
  const fg = await spawnUntil(t, ns, [process.execPath, cliPath(), 'forward', String(port), '--files-root', root], 'forwarding');
  assert.equal(await container(port), 'vite-ok', 'forward PORT with no --to reaches the ::1 server');
  await stopChild(fg);

  // Negative control: a 127.0.0.1 server is exposed with kernel rules, no relay.
  const v4 = await startReplyServer(ns, { host: '127.0.0.1', reply: 'pg-ok\n' });
  t.after(() => v4.stop());
  const k = await cli(['expose', String(v4.port), '--json']);
  assert.equal(k.code, 0, k.stderr);
  assert.equal((JSON.parse(k.stdout) as { decisions: Array<{ via: string }> }).decisions[0]?.via, 'kernel');
  assert.equal(existsSync(join(root, `etc/systemd/system/hostalias-forward-${v4.port}-tcp.service`)), false, 'no relay unit');
  assert.match((await ns.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout, new RegExp(`dport ${v4.port} dnat ip to 127\\.0\\.0\\.1:${v4.port}`));
  assert.equal(await container(v4.port), 'pg-ok');
  const relaySockets = (await ns.exec(['ss', '-Hltn', `sport = :${v4.port}`])).stdout;
  assert.doesNotMatch(relaySockets, new RegExp(ALIAS.replace(/\./g, '\\.')), 'no relay listens on the alias');
  const down = await cli(['down']);
  assert.equal(down.code, 0, down.stderr);
});

test('a relayed expose follows the server across families (::1 → 127.0.0.1 → ::1), and reaches a server that starts after the expose', async (t) => {
  const { ns, cli, container, doctor, listening, startRelay } = await lab(t, 'xv6f');
  // Each server answers with its family, so a body says which one the relay reached.
  const serve = async (host: '::1' | '127.0.0.1', port?: number) => {
    const s = await startReplyServer(ns, { host, reply: `${host === '::1' ? 'v6' : 'v4'}:${port ?? 'first'}\n`, ...(port ? { port } : {}) });
    t.after(() => s.stop());
    return s;
  };
  const exposeJson = async (port: number) => {
    const r = await cli(['expose', String(port), '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { decisions: Array<{ via: string; reason: string }> }).decisions[0];
  };

  // A ::1-only server, exposed: the relay path; a container reaches it by name.
  const first = await serve('::1');
  const port = first.port;
  assert.deepEqual(await listening(port), [`[::1]:${port}`], 'the server listens on [::1] only');
  assert.equal((await exposeJson(port))?.via, 'relay');
  const relay = await startRelay(port);
  assert.equal(await container(port), 'v6:first');

  // The server stops: the relay stays up; a container's connection gets no reply (both families refuse).
  await first.stop();
  assert.deepEqual(await listening(port), [`${ALIAS}:${port}`], 'only the relay listens now');
  assert.equal(await container(port), '', 'no server: nothing answers');
  assert.equal(relay.exitCode, null, 'the relay survives a stopped server');

  // It restarts on 127.0.0.1 only: the same name and port reach it, nothing re-run.
  const v4 = await serve('127.0.0.1', port);
  assert.deepEqual(await listening(port), [`${ALIAS}:${port}`, `127.0.0.1:${port}`], 'the server listens on 127.0.0.1 only');
  assert.equal(await container(port), `v4:${port}`, 'restarted on 127.0.0.1: reached through the same relay');
  assert.equal(await container(port), `v4:${port}`, 'and again (the relay now starts at 127.0.0.1)');
  const onV4 = listenerFinding(await doctor(), new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.equal(onV4?.status, 'ok', JSON.stringify(onV4));
  assert.match(onV4?.message ?? '', new RegExp(`relayed by hostalias-forward-${port}-tcp\\.service`));

  // And back on ::1 only.
  await v4.stop();
  const back = await serve('::1', port);
  assert.deepEqual(await listening(port), [`${ALIAS}:${port}`, `[::1]:${port}`]);
  assert.equal(await container(port), `v6:${port}`, 'back on ::1: reached again');
  assert.equal(back.connections.at(-1)?.remoteAddress, '::1', 'the relay connected over ::1');
  assert.equal(relay.exitCode, null, 'one relay process throughout');

  // A port where nothing listens yet: expose decides a relay; the dev server starts afterwards, on ::1.
  const probe = await serve('::1');
  const later = probe.port;
  await probe.stop();
  assert.deepEqual(await listening(later), [], 'nothing listens on the second port');
  const pending = await exposeJson(later);
  assert.equal(pending?.via, 'relay');
  assert.match(pending?.reason ?? '', new RegExp(`nothing listens on port ${later} yet`));
  await startRelay(later);
  assert.equal(await container(later), '', 'no server yet: nothing answers');
  const idle = (await doctor()).find((f) => f.id === 'listeners' && f.message.includes(`hostalias-forward-${later}-tcp.service relays`));
  assert.equal(idle?.status, 'warn', 'doctor: the relay waits for its service');
  assert.match(idle?.message ?? '', /nothing listens on .* yet/);
  await serve('::1', later);
  assert.deepEqual(await listening(later), [`${ALIAS}:${later}`, `[::1]:${later}`]);
  assert.equal(await container(later), `v6:${later}`, 'the dev server started after the expose is reached, nothing re-run');
  const served = listenerFinding(await doctor(), new RegExp(`\\[::1\\]:${later}`));
  assert.equal(served?.status, 'ok', JSON.stringify(served));

  assert.equal((await cli(['down'])).code, 0);
});

test('no service manager here (a container, WSL without systemd): a ::1-only server is not exposed through a unit that never starts; the foreground relay works; doctor says so for a relay recorded earlier', async (t) => {
  const { ns, root, cli, container, doctor } = await lab(t, 'xv6n', { systemd: false });
  const server = await startReplyServer(ns, { host: '::1', reply: 'vite-ok\n' });
  t.after(() => server.stop());
  const port = server.port;
  const foreground = cliFix(`forward ${port}/tcp --files-root ${root}`);

  const snap = await snapshot(root);
  const refused = await cli(['expose', String(port)]);
  assert.equal(refused.code, 7, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(`exposing ${port}/tcp: the service listens on \\[::1\\]:${port} only, .* and a relay can't start here: no service manager runs here`),
  );
  assert.ok(refused.stderr.includes(`  fix: ${foreground}  # the relay in the foreground`), refused.stderr);
  assert.deepEqual(await snapshot(root), snap, 'nothing changed');
  assert.equal((await cli(['expose', String(port), '--via', 'relay'])).code, 7, '--via relay alike');
  const install = await cli(['forward', String(port), '--install']);
  assert.equal(install.code, 7, install.stderr);
  assert.match(install.stderr, /forward --install: a relay can't run as a service here: no service manager runs here/);
  assert.ok(install.stderr.includes(`  fix: ${cliFix(`forward ${port} --files-root ${root}`)}  # the relay in the foreground`), install.stderr);
  assert.deepEqual(await snapshot(root), snap, 'nothing changed');

  // The way that works: the printed command, in the foreground (what a terminal runs until Ctrl-C).
  const fg = await spawnUntil(t, ns, ['sh', '-c', `exec ${foreground.replace(/ {2}#.*$/, '')}`], 'forwarding');
  assert.equal(await container(port), 'vite-ok', 'a container reaches the ::1 server through the foreground relay');
  await stopChild(fg);

  // A relay expose recorded while systemd ran (WSL with systemd turned off since): doctor says its unit can't start, and how to relay instead.
  await mkdir(join(root, 'run/systemd/system'), { recursive: true });
  assert.equal((await cli(['expose', String(port)])).code, 0);
  await rm(join(root, 'run/systemd'), { recursive: true });
  const down = listenerFinding(await doctor(), new RegExp(`\\[::1\\]:${port}`));
  assert.equal(down?.status, 'warn', JSON.stringify(down));
  assert.match(down?.message ?? '', /the relay is not running \(its unit can't start: no service manager runs here/);
  assert.equal(
    down?.fix,
    `${cliFix(`unexpose ${port}/tcp --files-root ${root}`)}  # then run the relay in the foreground: ${cliFix(`forward ${port}/tcp --files-root ${root}`)}`,
  );
  assert.doesNotMatch(down?.fix ?? '', /systemctl/);
  const pasted = await ns.exec(['sh', '-c', down?.fix ?? 'false'], { allowFail: true });
  assert.equal(pasted.code, 0, pasted.stderr);
  assert.equal(
    listenerFinding(await doctor(), new RegExp(`\\[::1\\]:${port}`))?.fix,
    `${cliFix(`forward ${port} --files-root ${root}`)}  # the relay in the foreground: no service manager runs here to keep one`,
    'not exposed: the way that works here, not an expose it would refuse',
  );
  const again = await spawnUntil(t, ns, [process.execPath, cliPath(), 'forward', `${port}/tcp`, '--files-root', root], 'forwarding');
  assert.equal(await container(port), 'vite-ok', 'and the foreground relay takes the port');
  await stopChild(again);
  assert.equal((await cli(['down'])).code, 0);
});
