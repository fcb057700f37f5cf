import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parsePlist } from 'plist';
import type { ExposeSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { down, up } from '../../src/engine/converge.js';
import { loadState } from '../../src/engine/state-store.js';
import { HostaliasError } from '../../src/model/errors.js';
import { renderPlan } from '../../src/model/steps.js';
import { renderPlist, aliasJob } from '../../src/platform/darwin/launchd.js';
import { PF_BOOT_LOG, PF_TOKEN_PATH } from '../../src/platform/darwin/pf.js';
import { FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

const IP = '10.254.254.254';
const PLIST = '/Library/LaunchDaemons/dev.hostalias.alias.plist';
const PF_PLIST = '/Library/LaunchDaemons/dev.hostalias.pf.plist';
const ANCHOR_FILE = '/etc/pf.anchors/dev.hostalias';
// --keep-source: served by the pf redirect (without it, expose is a relay; see darwin-mac-behaviour.test.ts).
const PG: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: true };
// These tests are about the alias, launchd and pf's redirects; the LAN guard has its own tests.
const NO_GUARD = { lanGuard: false } as const;

async function mac(t: TestContext): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  return { ctx: { runner: m, fs, backend: darwinBackend, live: true, isRoot: true, env: {} }, mac: m, fs };
}

const shell = (plan: Parameters<typeof renderPlan>[0]) =>
  renderPlan(plan, { rooted: false, root: '/' })
    .split('\n')
    .filter((l) => l.startsWith('$ ') || l.startsWith('# '));

test('up on a pristine Mac: alias, LaunchDaemon written and bootstrapped; a second up changes nothing', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  const res = await up(ctx, NO_GUARD);
  assert.deepEqual(shell(res.plan), [
    `$ ifconfig lo0 alias ${IP} netmask 255.255.255.255`,
    `# write ${PLIST} (mode 0644)`,
    `$ launchctl bootstrap system ${PLIST}`,
  ]);
  assert.equal(m.lo0(), fixture('ifconfig-lo0-alias.txt'), 'the fake now prints the with-alias fixture');
  assert.ok(m.loaded.has('dev.hostalias.alias'));
  const parsed = parsePlist((await fs.read(PLIST)) as string) as Record<string, unknown>;
  assert.deepEqual(parsed['ProgramArguments'], ['/sbin/ifconfig', 'lo0', 'alias', IP, 'netmask', '255.255.255.255']);
  assert.equal(parsed['RunAtLoad'], true);
  assert.equal((await loadState(fs))?.persistence?.kind, 'launchd');
  assert.ok(res.plan.notes.some((n) => /persistence: launchd/.test(n.text)));

  const before = m.changes.length;
  const again = await up(ctx, NO_GUARD);
  assert.deepEqual(again.plan.steps, []);
  assert.equal(m.changes.length, before, 'idempotent up runs only probes');
});

test('down removes the job, the plist and the alias; down again is a no-op', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  const res = await down(ctx);
  assert.deepEqual(shell(res.plan), ['$ launchctl bootout system/dev.hostalias.alias', `$ rm -f ${PLIST}`, `$ ifconfig lo0 -alias ${IP}`]);
  assert.equal(m.lo0(), fixture('ifconfig-lo0.txt'));
  assert.equal(m.loaded.size, 0);
  assert.equal(await fs.read(PLIST), null);
  assert.equal(await loadState(fs), null);
  assert.deepEqual((await down(ctx)).plan.steps, []);
});

test('launchctl bootstrap fails: the plist and the alias are rolled back, no state is written', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.failOnce(['launchctl', 'bootstrap', 'system', PLIST], { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') });
  await assert.rejects(
    up(ctx, NO_GUARD),
    (err: unknown) => err instanceof HostaliasError && err.code === 'failed' && /Bootstrap failed: 5/.test(err.message) && /rolled back/.test(err.message),
  );
  assert.deepEqual(m.changes, [`ifconfig lo0 alias ${IP} netmask 255.255.255.255`, `launchctl bootstrap system ${PLIST}`, `ifconfig lo0 -alias ${IP}`]);
  assert.equal(m.lo0(), fixture('ifconfig-lo0.txt'));
  assert.equal(await fs.read(PLIST), null);
  assert.equal(await loadState(fs), null);
});

test('expose: pf anchor loaded from stdin, anchor file and boot job written, pf enabled with our token', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  const res = await up(ctx, { ...NO_GUARD, exposes: [PG] });
  const text = renderPlan(res.plan, { rooted: false, root: '/' });
  assert.deepEqual(shell(res.plan), [
    `$ pfctl -a com.apple/hostalias -f - <<'EOF'`,
    `# Managed by hostalias: \`sudo hostalias down\` removes this. Edits are overwritten by \`hostalias up\`.`,
    '# Loaded into the pf anchor com.apple/hostalias (evaluated through rdr-anchor and anchor "com.apple/*" in /etc/pf.conf).',
    `# write ${ANCHOR_FILE} (mode 0644)`,
    `# write ${PF_PLIST} (mode 0644)`,
    `$ pfctl -E    # saves ${PF_TOKEN_PATH}`,
  ]);
  assert.match(text, /^rdr pass on lo0 inet proto tcp from any to 10\.254\.254\.254 port = 5432 -> 127\.0\.0\.1 port 5432$/m);
  assert.deepEqual(m.anchor, fixture('pfctl-anchor-nat.txt').trim().split('\n'), 'the anchor now lists what the real pfctl fixture shows');
  assert.deepEqual(m.tokens, ['10760036128423510625']);
  assert.equal(await fs.read(PF_TOKEN_PATH), '10760036128423510625\n');
  assert.ok(!m.loaded.has('dev.hostalias.pf'), 'the boot job is placed, not loaded (loading it would take a second reference now)');
  const pfJob = parsePlist((await fs.read(PF_PLIST)) as string) as Record<string, unknown>;
  assert.deepEqual(pfJob['ProgramArguments'], ['/sbin/pfctl', '-E', '-a', 'com.apple/hostalias', '-f', ANCHOR_FILE]);

  const before = m.changes.length;
  assert.deepEqual((await up(ctx, NO_GUARD)).plan.steps, [], 'exposed and converged: no steps');
  assert.equal(m.changes.length, before);
});

test('unexpose (last port): flush the anchor, remove its file, release our reference last (then its token file)', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, exposes: [PG] });
  m.tokens.unshift('555'); // another pf user holds a reference too
  const res = await up(ctx, { ...NO_GUARD, exposes: [] });
  assert.deepEqual(shell(res.plan), [
    `$ rm -f ${PF_PLIST}`,
    '$ pfctl -a com.apple/hostalias -F all',
    `$ rm -f ${ANCHOR_FILE}`,
    '$ pfctl -X 10760036128423510625',
    // The token's file goes after the release: killed in between, the next run finds a dead token, not a live one unknown.
    `$ rm -f ${PF_TOKEN_PATH}`,
  ]);
  assert.deepEqual(m.anchor, []);
  assert.deepEqual(m.tokens, ['555'], "the other user's reference is untouched, so pf stays enabled");
  for (const p of [PF_PLIST, ANCHOR_FILE, PF_TOKEN_PATH]) assert.equal(await fs.read(p), null, p);
  assert.ok(m.lo0().includes(IP), 'the alias stays');
});

test('down with exposes removes pf last: after the alias, the reference release is the final command', async (t) => {
  const { ctx, mac: m } = await mac(t);
  await up(ctx, { ...NO_GUARD, exposes: [PG, { port: 53, proto: 'udp', to: 5353, keepSource: true }] });
  assert.ok(m.anchor.includes(`rdr pass on lo0 inet proto udp from any to ${IP} port = 53 -> 127.0.0.1 port 5353`));
  const res = await down(ctx);
  const lines = shell(res.plan);
  assert.deepEqual(
    lines.slice(-2),
    ['$ pfctl -X 10760036128423510625', `$ rm -f ${PF_TOKEN_PATH}`],
    'the release is the last command; only the file naming the token follows',
  );
  assert.ok(lines.indexOf(`$ ifconfig lo0 -alias ${IP}`) < lines.indexOf('$ pfctl -a com.apple/hostalias -F all'));
  assert.deepEqual(m.tokens, []);
  assert.deepEqual(m.anchor, []);
  assert.equal(m.lo0(), fixture('ifconfig-lo0.txt'));
});

test('a failure after pfctl -E releases the captured token and flushes the anchor', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.failOnce(['launchctl', 'bootstrap', 'system', PLIST], { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') });
  await assert.rejects(up(ctx, { ...NO_GUARD, exposes: [PG] }), (err: unknown) => err instanceof HostaliasError && /rolled back/.test(err.message));
  assert.ok(m.changes.includes('pfctl -X 10760036128423510625'), m.changes.join('\n'));
  assert.ok(m.changes.includes('pfctl -a com.apple/hostalias -F all'));
  assert.deepEqual(m.tokens, []);
  assert.deepEqual(m.anchor, []);
  assert.equal(m.lo0(), fixture('ifconfig-lo0.txt'));
  for (const p of [PLIST, PF_PLIST, ANCHOR_FILE, PF_TOKEN_PATH]) assert.equal(await fs.read(p), null, p);
});

test('pfctl -E failing rolls back the anchor and files', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  m.failOnce(['pfctl', '-E'], { code: 1, stdout: '', stderr: 'pfctl: /dev/pf: Permission denied\n' });
  await assert.rejects(up(ctx, { ...NO_GUARD, exposes: [PG] }), (err: unknown) => err instanceof HostaliasError && err.code === 'permission');
  assert.deepEqual(m.anchor, []);
  for (const p of [PF_PLIST, ANCHOR_FILE, PF_TOKEN_PATH]) assert.equal(await fs.read(p), null, p);
  assert.deepEqual((await loadState(fs))?.desired.exposes, []);
});

test('after a reboot: the boot job took the reference; down releases it and skips the stale one', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, exposes: [PG] });
  // Reboot: the kernel forgets everything; launchd runs both jobs; the pf job's stderr holds its token.
  m.aliases.clear();
  m.anchor = [];
  m.tokens = [];
  m.loaded.clear();
  await m.run(['ifconfig', 'lo0', 'alias', IP, 'netmask', '255.255.255.255']);
  m.loaded.add('dev.hostalias.alias');
  m.loaded.add('dev.hostalias.pf');
  await m.run(['pfctl', '-a', 'com.apple/hostalias', '-f', ANCHOR_FILE]);
  m.tokens.push('7777');
  await fs.write(PF_BOOT_LOG, `${fixture('pfctl-E.stderr.txt').replace('10760036128423510625', '7777')}`, 0o644);

  const before = m.changes.length;
  assert.deepEqual((await up(ctx, NO_GUARD)).plan.steps, [], 'the boot job restored everything: up has nothing to do');
  assert.equal(m.changes.length, before);

  const res = await down(ctx);
  const lines = shell(res.plan);
  assert.ok(lines.includes('$ launchctl bootout system/dev.hostalias.pf'));
  assert.ok(lines.includes(`$ rm -f ${PF_BOOT_LOG}`));
  assert.deepEqual(lines.slice(-3), ['$ pfctl -X 7777', `$ rm -f ${PF_BOOT_LOG}`, `$ rm -f ${PF_TOKEN_PATH}`]);
  assert.ok(!lines.some((l) => l.includes('10760036128423510625')), 'the pre-reboot token is not released');
  assert.deepEqual(m.tokens, []);
  assert.equal(m.loaded.size, 0);
});

test('moving the alias rewrites and reloads the LaunchDaemon and the redirects', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, exposes: [PG] });
  const res = await up(ctx, { ...NO_GUARD, ip: '10.254.254.253' });
  const lines = shell(res.plan);
  assert.ok(lines.includes(`$ ifconfig lo0 -alias ${IP}`));
  assert.ok(lines.includes('$ ifconfig lo0 alias 10.254.254.253 netmask 255.255.255.255'));
  assert.ok(lines.includes('$ launchctl bootout system/dev.hostalias.alias'));
  assert.ok(lines.includes(`$ launchctl bootstrap system ${PLIST}    # retried for up to 20 s while launchd finishes unloading the old job`));
  assert.ok(!lines.includes('$ pfctl -E'), 'our reference is still live');
  assert.deepEqual(m.anchor, [`rdr pass on lo0 inet proto tcp from any to 10.254.254.253 port = 5432 -> 127.0.0.1 port 5432`]);
  assert.equal(await fs.read(PLIST), renderPlist(aliasJob('10.254.254.253')));
  assert.ok(!m.lo0().includes(IP));
  assert.deepEqual((await up(ctx, NO_GUARD)).plan.steps, []);
});

test('--persist none: alias only; switching to launchd adds the job; back to none removes it', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  const none = await up(ctx, { ...NO_GUARD, persist: 'none' });
  assert.deepEqual(shell(none.plan), [`$ ifconfig lo0 alias ${IP} netmask 255.255.255.255`]);
  const withLaunchd = await up(ctx, { ...NO_GUARD, persist: 'launchd' });
  assert.deepEqual(shell(withLaunchd.plan), [`# write ${PLIST} (mode 0644)`, `$ launchctl bootstrap system ${PLIST}`]);
  const back = await up(ctx, { ...NO_GUARD, persist: 'none' });
  assert.deepEqual(shell(back.plan), ['$ launchctl bootout system/dev.hostalias.alias', `$ rm -f ${PLIST}`]);
  assert.equal(await fs.read(PLIST), null);
  assert.ok(m.lo0().includes(IP));
});

test('refusals change nothing: address conflict, Linux persistence, --docker-daemon, a foreign plist', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.rest = fixture('ifconfig-a-rest-lan-10-254.txt');
  await assert.rejects(up(ctx, NO_GUARD), (e: unknown) => e instanceof HostaliasError && e.code === 'conflict' && /en0/.test(e.message));
  m.rest = fixture('ifconfig-a-rest.txt');
  await assert.rejects(up(ctx, { ...NO_GUARD, persist: 'systemd' }), (e: unknown) => e instanceof HostaliasError && e.code === 'usage');
  await assert.rejects(
    up(ctx, { ...NO_GUARD, dockerDaemon: true }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /Docker Desktop/.test(e.message),
  );
  await fs.write(PLIST, '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n', 0o644);
  await assert.rejects(up(ctx, NO_GUARD), (e: unknown) => e instanceof HostaliasError && e.code === 'conflict' && /not written by hostalias/.test(e.message));
  assert.deepEqual(m.changes, []);
  assert.equal(await loadState(fs), null);
});

test('a classful /8 alias added by hand (the blog one-liner) is replaced by the /32, not refused', async (t) => {
  const { ctx, mac: m } = await mac(t);
  m.aliases.set(IP, '0xff000000');
  assert.equal(m.lo0(), fixture('ifconfig-lo0-alias-classful.txt'));
  const res = await up(ctx, NO_GUARD);
  assert.deepEqual(shell(res.plan).slice(0, 2), [`$ ifconfig lo0 -alias ${IP}`, `$ ifconfig lo0 alias ${IP} netmask 255.255.255.255`]);
  assert.ok(
    res.plan.notes.some((n) => /replaced by the \/32/.test(n.text) && /host route/.test(n.text)),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  assert.equal(m.lo0(), fixture('ifconfig-lo0-alias.txt'));
  assert.deepEqual((await up(ctx, NO_GUARD)).plan.steps, []);
});

test('a failure after replacing the /8 puts the /8 back as it was', async (t) => {
  const { ctx, mac: m } = await mac(t);
  m.aliases.set(IP, '0xff000000');
  m.failOnce(['launchctl', 'bootstrap', 'system', PLIST], { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') });
  await assert.rejects(up(ctx, NO_GUARD), (e: unknown) => e instanceof HostaliasError && /rolled back/.test(e.message));
  assert.ok(m.changes.includes(`ifconfig lo0 alias ${IP} netmask 255.0.0.0`), m.changes.join('\n'));
  assert.equal(m.aliases.get(IP), '0xff000000');
});
