import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parsePlist } from 'plist';
import { defaultDesired, type ForwardSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { down, up } from '../../src/engine/converge.js';
import { loadState } from '../../src/engine/state-store.js';
import { HostaliasError } from '../../src/model/errors.js';
import { currentRuntime, RUNTIME_CURRENT, RUNTIME_DIR } from '../../src/exec/runtime.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { renderPlan } from '../../src/model/steps.js';
import { forwardJob } from '../../src/platform/darwin/forward-launchd.js';
import { renderPlist } from '../../src/platform/darwin/launchd.js';
import { FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { makeRoot, readTree } from '../support/rooted.js';

// `forward --install` on macOS: a LaunchDaemon per forward, against the FakeMac.
const IP = '10.254.254.254';
const PG: ForwardSpec = { port: 5432, proto: 'tcp', targets: [] };
const DNS: ForwardSpec = { port: 53, proto: 'udp', targets: ['127.0.0.1:5353'] };
const LABEL = 'dev.hostalias.forward.5432-tcp';
const PLIST = `/Library/LaunchDaemons/${LABEL}.plist`;
const LOG = `/var/log/${LABEL}.log`;
const ALIAS_PLIST = '/Library/LaunchDaemons/dev.hostalias.alias.plist';
const RT = currentRuntime();
// The LAN guard (pf) has its own tests; here only the relay jobs matter.
const NO_GUARD = { lanGuard: false } as const;

async function mac(t: TestContext): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  return { ctx: { runner: m, fs, backend: darwinBackend, live: true, isRoot: true, env: {} }, mac: m, fs };
}

const lines = (plan: Parameters<typeof renderPlan>[0]) =>
  renderPlan(plan, { rooted: false, root: '/' })
    .split('\n')
    .filter((l) => l.startsWith('$ ') || l.startsWith('# '));
/** The plan without the installed copy's steps (asserted on their own: runtime-copy.test.ts). */
const shell = (plan: Parameters<typeof renderPlan>[0]) => lines(plan).filter((l) => !l.includes(RUNTIME_DIR));

test('install: plist written and bootstrapped, launchd runs the relay; installing again plans nothing', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  const res = await up(ctx, { ...NO_GUARD, forwards: [PG] });
  assert.deepEqual(shell(res.plan), [`# write ${PLIST} (mode 0644)`, `$ launchctl bootstrap system ${PLIST}`]);
  assert.ok(
    lines(res.plan).some((l) => l.startsWith('$ install -m 0755 ') && l.includes(`${RUNTIME_DIR}/`)),
    'the first forward installs the copy the job runs',
  );
  assert.match((await fs.readLink(RUNTIME_CURRENT)) ?? '', /^0\.1\.0-[0-9a-f]{12}$/);
  const parsed = parsePlist((await fs.read(PLIST)) as string);
  assert.deepEqual(parsed, {
    Label: LABEL,
    ProgramArguments: [RT.nodePath, RT.cliPath, 'forward', '5432/tcp', '--listen', IP, '--to', '5432'],
    RunAtLoad: true,
    KeepAlive: true,
    // The installed copy's own libraries first (a Homebrew node's dylibs: dyld's DYLD_LIBRARY_PATH).
    EnvironmentVariables: { DYLD_LIBRARY_PATH: '/usr/local/lib/hostalias/current/lib' },
    StandardOutPath: LOG,
    StandardErrorPath: LOG,
  });
  assert.ok(RT.nodePath.startsWith('/') && RT.cliPath.startsWith('/'), 'absolute paths: launchd has no PATH to search');
  assert.deepEqual(m.daemons.get(LABEL), (parsed as { ProgramArguments: string[] }).ProgramArguments, 'launchd keeps the relay running');
  assert.deepEqual((await loadState(fs))?.desired.forwards, [PG]);

  const before = m.changes.length;
  assert.deepEqual((await up(ctx, NO_GUARD)).plan.steps, [], 'converged: no steps');
  assert.deepEqual((await up(ctx, { ...NO_GUARD, forwards: [PG] })).plan.steps, [], 'installing again: no steps');
  assert.equal(m.changes.length, before, 'idempotent runs only probe (launchctl print)');
});

test('changing a forward reloads it; two forwards are two jobs; uninstalling one leaves the other', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, forwards: [DNS, PG] });
  assert.deepEqual([...m.daemons.keys()].sort(), ['dev.hostalias.forward.53-udp', LABEL]);
  const moved = { ...PG, targets: ['127.0.0.1:15432'] };
  const res = await up(ctx, { ...NO_GUARD, forwards: [DNS, moved] });
  assert.deepEqual(shell(res.plan), [
    `$ launchctl bootout system/${LABEL}`,
    `# write ${PLIST} (mode 0644)`,
    `$ launchctl bootstrap system ${PLIST}    # retried for up to 20 s while launchd finishes unloading the old job`,
  ]);
  assert.deepEqual(m.daemons.get(LABEL)?.slice(2), ['forward', '5432/tcp', '--listen', IP, '--to', '127.0.0.1:15432']);
  const off = await up(ctx, { ...NO_GUARD, forwards: [DNS] });
  assert.deepEqual(shell(off.plan), [`$ launchctl bootout system/${LABEL}`, `$ rm -f ${PLIST}`]);
  assert.deepEqual([...m.daemons.keys()], ['dev.hostalias.forward.53-udp']);
  assert.equal(await fs.read(PLIST), null);
  assert.equal((await fs.read(ALIAS_PLIST)) !== null, true, 'the alias job is untouched');
});

test('relay options reach the LaunchDaemon exactly as given; other options reload the job; none resets them', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  const tuned: ForwardSpec = { ...PG, workers: 3, schedule: 'round-robin', connectTimeoutMs: 800, maxConnections: 200, graceS: 2 };
  await up(ctx, { ...NO_GUARD, forwards: [tuned] });
  const args = [
    'forward',
    '5432/tcp',
    '--listen',
    IP,
    '--to',
    '5432',
    '--workers',
    '3',
    '--schedule',
    'round-robin',
    '--connect-timeout',
    '800',
    '--max-connections',
    '200',
    '--grace',
    '2',
  ];
  assert.deepEqual((parsePlist((await fs.read(PLIST)) as string) as { ProgramArguments: string[] }).ProgramArguments.slice(2), args);
  assert.deepEqual(m.daemons.get(LABEL)?.slice(2), args, 'launchd runs the relay with them');
  assert.deepEqual((await loadState(fs))?.desired.forwards, [tuned], 'the state keeps them');
  assert.deepEqual((await up(ctx, { ...NO_GUARD, forwards: [tuned] })).plan.steps, [], 'the same options: no steps');

  const udp: ForwardSpec = { ...DNS, idleTimeoutS: 15, maxSessions: 64 };
  const res = await up(ctx, { ...NO_GUARD, forwards: [udp, { ...PG, maxConnections: 50 }] });
  assert.deepEqual(
    shell(res.plan).filter((l) => l.includes(LABEL)),
    [
      `$ launchctl bootout system/${LABEL}`,
      `# write ${PLIST} (mode 0644)`,
      `$ launchctl bootstrap system ${PLIST}    # retried for up to 20 s while launchd finishes unloading the old job`,
    ],
  );
  assert.deepEqual(m.daemons.get(LABEL)?.slice(2), ['forward', '5432/tcp', '--listen', IP, '--to', '5432', '--max-connections', '50']);
  assert.deepEqual(m.daemons.get('dev.hostalias.forward.53-udp')?.slice(2), [
    'forward',
    '53/udp',
    '--listen',
    IP,
    '--to',
    '127.0.0.1:5353',
    '--idle-timeout',
    '15',
    '--max-sessions',
    '64',
  ]);
  await up(ctx, { ...NO_GUARD, forwards: [udp, PG] });
  assert.deepEqual(m.daemons.get(LABEL)?.slice(2), ['forward', '5432/tcp', '--listen', IP, '--to', '5432'], 'no options: the defaults again');
});

test('uninstall removes the job, its plist and its log; uninstalling again is a no-op', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  await fs.write(LOG, 'forwarding 10.254.254.254:5432/tcp → 127.0.0.1:5432\n', 0o644); // what launchd would have written
  const res = await up(ctx, { ...NO_GUARD, forwards: [] });
  assert.deepEqual(shell(res.plan), [`$ launchctl bootout system/${LABEL}`, `$ rm -f ${PLIST}`, `$ rm -f ${LOG}`]);
  assert.deepEqual(await fs.list(RUNTIME_DIR), [], 'no job runs node any more: the installed copy is gone');
  assert.equal(await fs.exists(RUNTIME_DIR), false);
  assert.equal(m.loaded.has(LABEL), false);
  assert.equal(m.daemons.size, 0);
  assert.equal(await fs.read(PLIST), null);
  assert.equal(await fs.read(LOG), null);
  const before = m.changes.length;
  assert.deepEqual((await up(ctx, { ...NO_GUARD, forwards: [] })).plan.steps, []);
  assert.equal(m.changes.length, before);
});

test('down removes the forward job before the alias; down again is a no-op', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  const res = await down(ctx);
  assert.deepEqual(shell(res.plan), [
    `$ launchctl bootout system/${LABEL}`,
    `$ rm -f ${PLIST}`,
    '$ launchctl bootout system/dev.hostalias.alias',
    `$ rm -f ${ALIAS_PLIST}`,
    `$ ifconfig lo0 -alias ${IP}`,
  ]);
  assert.equal(m.loaded.size, 0);
  assert.equal(m.daemons.size, 0);
  assert.equal(m.lo0(), fixture('ifconfig-lo0.txt'));
  assert.equal(await fs.read(PLIST), null);
  assert.equal(await loadState(fs), null);
  assert.deepEqual((await down(ctx)).plan.steps, []);
});

test('a job launchd already forgot (or a plist already deleted) still uninstalls cleanly', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  m.loaded.delete(LABEL); // e.g. booted out by hand
  m.daemons.delete(LABEL);
  const res = await up(ctx, { ...NO_GUARD, forwards: [] });
  assert.deepEqual(shell(res.plan), [`$ rm -f ${PLIST}`], 'no bootout for a job that is not loaded');
  assert.equal(await fs.read(PLIST), null);
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  await fs.remove(PLIST); // plist deleted by hand, job still loaded
  assert.deepEqual(shell((await up(ctx, { ...NO_GUARD, forwards: [] })).plan), [`$ launchctl bootout system/${LABEL}`]);
  assert.equal(m.loaded.has(LABEL), false);
});

test('launchctl bootstrap fails: the plist is removed again and the state keeps no forward', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  m.failOnce(['launchctl', 'bootstrap', 'system', PLIST], { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') });
  await assert.rejects(
    up(ctx, { ...NO_GUARD, forwards: [PG] }),
    (err: unknown) => err instanceof HostaliasError && err.code === 'failed' && /Bootstrap failed: 5/.test(err.message) && /rolled back/.test(err.message),
  );
  assert.equal(await fs.read(PLIST), null);
  assert.equal(m.loaded.has(LABEL), false);
  assert.equal(m.daemons.size, 0);
  assert.deepEqual((await loadState(fs))?.desired.forwards, []);
  assert.ok(m.lo0().includes(IP), 'what was there before (the alias) stays');
});

test('a plist with our label that hostalias did not write is a conflict; nothing changes', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, NO_GUARD);
  const foreign = '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n';
  await fs.write(PLIST, foreign, 0o644);
  const before = m.changes.length;
  await assert.rejects(
    up(ctx, { ...NO_GUARD, forwards: [PG] }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'conflict' && /not written by hostalias/.test(e.message),
  );
  assert.equal(m.changes.length, before);
  assert.equal(await fs.read(PLIST), foreign);
});

// The CLI as users run it: `--platform darwin --dry-run` on this Linux machine (nothing runs or is written).
const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('forward 5432 --install --platform darwin --dry-run prints the LaunchDaemon plan and exits 0', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['forward', '5432', '--install', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`^# write ${root}${PLIST} \\(mode 0644\\)$`, 'm'));
  assert.match(res.stdout, new RegExp(`^\\$ launchctl bootstrap system ${PLIST}    # skipped \\(files under a folder\\)$`, 'm'));
  // The forward plist is the second added file in the diff; parse it.
  const added = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
    .map((l) => l.slice(1))
    .join('\n');
  const start = added.indexOf('<?xml', added.indexOf(LABEL) - 400);
  const parsed = parsePlist(added.slice(start, added.indexOf('</plist>', start) + '</plist>'.length)) as {
    Label: string;
    ProgramArguments: string[];
    KeepAlive: boolean;
  };
  assert.equal(parsed.Label, LABEL);
  assert.deepEqual(parsed.ProgramArguments.slice(2), ['forward', '5432/tcp', '--listen', IP, '--to', '5432']);
  assert.equal(parsed.KeepAlive, true);
  assert.deepEqual(await readTree(root), {}, 'a dry run writes nothing');
  const tuned = await cli([
    'forward',
    '5432',
    '--install',
    '--platform',
    'darwin',
    '--dry-run',
    '--files-root',
    root,
    '--max-connections',
    '300',
    '--idle-timeout',
    '20',
  ]);
  assert.equal(tuned.code, 0, tuned.stderr);
  assert.match(
    tuned.stdout,
    /^\+\s*<string>--idle-timeout<\/string>\n\+\s*<string>20<\/string>\n\+\s*<string>--max-connections<\/string>\n\+\s*<string>300<\/string>$/m,
    'the options given are in the plist',
  );
});

test('forward 5432 --uninstall --platform darwin --dry-run with a --root state previews the removal', async (t) => {
  const state = {
    version: 1,
    desired: { ...defaultDesired(), persist: 'none' as const, lanGuard: false, forwards: [PG] },
    persistence: { kind: 'none', reason: 'test', ip: IP, label: 'lo:hostalias' },
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
  const root = await makeRoot(t, { '/var/lib/hostalias/state.json': JSON.stringify(state), [PLIST]: renderPlist(forwardJob(PG, IP, RT)) });
  const res = await cli(['forward', '5432', '--uninstall', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(
    res.stdout.split('\n').filter((l) => l.startsWith('$ ')),
    [`$ launchctl bootout system/${LABEL}    # skipped (files under a folder)`, `$ rm -f ${root}${PLIST}`],
  );
});
