/**
 * The alias lifecycle against the real kernel: every test runs the built CLI inside its own network
 * namespace, always with --files-root on a fresh temp folder (no real /etc is touched), and asserts the
 * kernel's state with `ip -j addr show dev lo`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execArgv } from '../lab/exec.js';
import { cliPath, runCli, withNetns } from '../lab/netns.js';
import type { Netns } from '../lab/netns.js';
import { loAddrs, loJson, snapshot, tempRoot, cliFix, literal } from '../support/e2e.js';

const ALIAS = '10.254.254.254/32 lo:hostalias';
const LOOPBACK = '127.0.0.1/8 lo';

async function ipIn(ns: Netns, ...args: string[]): Promise<void> {
  await execArgv(['ip', '-n', ns.name, ...args]);
}

test('up, idempotent up, move, status, down, second down', async (t) => {
  const ns = await withNetns(t, 'core');
  const root = await tempRoot(t, 'core');
  const unit = join(root, 'etc/systemd/system/hostalias.service');

  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd']);
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, ALIAS]);
  assert.match(await readFile(unit, 'utf8'), /^ExecStart=\/usr\/sbin\/ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias$/m);
  // The /32 is the point: with a /8 (ifconfig lo:0 …) the kernel would answer `local` for all of 10/8.
  const other = await ns.exec(['ip', 'route', 'get', '10.8.0.1'], { allowFail: true });
  assert.doesNotMatch(other.stdout, /local/, 'the rest of 10/8 is not local');
  assert.match((await ns.exec(['ip', 'route', 'get', '10.254.254.254'])).stdout, /^local 10\.254\.254\.254 dev lo/);

  const addrBefore = await loJson(ns);
  const filesBefore = await snapshot(root);
  const again = await runCli(ns, ['up', '--files-root', root]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already up: 10\.254\.254\.254\/32 on lo, persisted by systemd/);
  assert.equal(await loJson(ns), addrBefore, 'the namespace is unchanged');
  assert.deepEqual(await snapshot(root), filesBefore, 'no file was rewritten (same contents and mtimes)');

  const status = await runCli(ns, ['status', '--files-root', root, '--json']);
  assert.equal(status.code, 0);
  const report = JSON.parse(status.stdout) as { ip: unknown; present: unknown; persistence: unknown; names: unknown };
  assert.deepEqual(
    { ip: report.ip, present: report.present, persistence: report.persistence, names: report.names },
    {
      ip: '10.254.254.254',
      present: true,
      persistence: 'systemd',
      names: ['local_host', 'local', 'host.docker.internal'],
    },
  );

  const move = await runCli(ns, ['up', '--files-root', root, '--ip', '10.254.254.1', '--names', 'local_host,api.local']);
  assert.equal(move.code, 0, move.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, '10.254.254.1/32 lo:hostalias'], 'the old alias is gone, the new one is there');
  const movedUnit = await readFile(unit, 'utf8');
  assert.match(movedUnit, /^ExecStart=\/usr\/sbin\/ip addr replace 10\.254\.254\.1\/32 dev lo label lo:hostalias$/m);
  assert.doesNotMatch(movedUnit, /10\.254\.254\.254/);
  const moved = JSON.parse((await runCli(ns, ['status', '--files-root', root, '--json'])).stdout) as { ip: string; names: string[] };
  assert.deepEqual([moved.ip, moved.names], ['10.254.254.1', ['local_host', 'api.local']]);

  const relabel = await runCli(ns, ['up', '--files-root', root, '--label', 'lo:ha2']);
  assert.equal(relabel.code, 0, relabel.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, '10.254.254.1/32 lo:ha2'], 'a new label reaches the kernel');

  const down = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK]);
  assert.deepEqual(Object.keys(await snapshot(root)), ['/var/lib/hostalias/journal.log'], 'unit, wants link and state are gone; the journal stays');

  const absent = await runCli(ns, ['status', '--files-root', root, '--json']);
  assert.equal(absent.code, 6, 'status exits 6 when the alias is absent');
  const absentReport = JSON.parse(absent.stdout) as { present: boolean; persistence: unknown };
  assert.equal(absentReport.present, false);
  assert.equal(absentReport.persistence, null);

  const downAgain = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(downAgain.code, 0, downAgain.stderr);
  assert.match(downAgain.stdout, /already down/);
});

const REFUSED: Array<[string, string[], RegExp]> = [
  ['out-of-range octet', ['--ip', '300.1.2.3'], /invalid alias address "300\.1\.2\.3"/],
  ['shell metacharacters', ['--ip', '10.0.0.1;id'], /invalid alias address "10\.0\.0\.1;id"/],
  ['loopback range', ['--ip', '127.0.0.2'], /is loopback already/],
  ['0/8', ['--ip', '0.1.2.3'], /0\.0\.0\.0\/8/],
  ['link-local', ['--ip', '169.254.1.1'], /link-local/],
  ['multicast', ['--ip', '224.0.0.1'], /multicast/],
  ['broadcast', ['--ip', '255.255.255.255'], /broadcast/],
  ['bad --persist', ['--persist', 'upstart'], /argument 'upstart' is invalid/],
  ['bad --names', ['--names', 'a b,c;d'], /invalid host name/],
  ['localhost as a name', ['--names', 'local_host,localhost'], /invalid host name "localhost"/],
  ['an IP address as a name', ['--names', '192.0.2.7'], /reads as an IP address/],
  ['a control character in a name', ['--names', 'a\u0007b'], /invalid host name/],
];

test('every refused input exits 2 and changes nothing (fresh and after up)', async (t) => {
  const ns = await withNetns(t, 'refuse');
  const fresh = await tempRoot(t, 'refuse');
  const used = await tempRoot(t, 'refuse');
  const first = await runCli(ns, ['up', '--files-root', used, '--persist', 'systemd']);
  assert.equal(first.code, 0, first.stderr);
  for (const root of [fresh, used]) {
    const addr = await loJson(ns);
    const files = await snapshot(root);
    for (const [name, args, message] of REFUSED) {
      const r = await runCli(ns, ['up', '--files-root', root, ...args]);
      assert.equal(r.code, 2, `${name}: exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, message, name);
      assert.equal(await loJson(ns), addr, `${name}: lo unchanged`);
      assert.deepEqual(await snapshot(root), files, `${name}: root folder unchanged`);
    }
  }
  assert.deepEqual(await snapshot(fresh), {});
});

test('an address on another interface or in its subnet is a conflict (exit 3) and changes nothing', async (t) => {
  const ns = await withNetns(t, 'conflict');
  const root = await tempRoot(t, 'conflict');
  await ipIn(ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
  await ipIn(ns, 'addr', 'add', '10.254.254.1/24', 'dev', 'd0');
  await ipIn(ns, 'link', 'set', 'd0', 'up');
  const addr = await loJson(ns);
  for (const [ip, message] of [
    ['10.254.254.254', /inside d0's connected subnet 10\.254\.254\.1\/24/],
    ['10.254.254.1', /10\.254\.254\.1 is already assigned to d0/],
  ] as const) {
    const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd', '--ip', ip]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /fix: .*--ip/);
    assert.equal(await loJson(ns), addr);
    assert.deepEqual(await snapshot(root), {});
  }
});

test('the classic /8 alias on lo is a conflict whose fix works', async (t) => {
  const ns = await withNetns(t, 'slash8');
  const root = await tempRoot(t, 'slash8');
  await ipIn(ns, 'addr', 'add', '10.254.254.254/8', 'dev', 'lo', 'label', 'lo:0');
  const r = await runCli(ns, ['up', '--files-root', root]);
  assert.equal(r.code, 3, r.stderr);
  const fix = /fix: (.*)$/m.exec(r.stderr)?.[1] ?? '';
  assert.equal(fix, `sudo ip addr del 10.254.254.254/8 dev lo && ${cliFix(`up --files-root ${root}`)}`);
  // As printed: it removes the /8 and runs up again.
  const pasted = await ns.exec(['sh', '-c', fix], { allowFail: true });
  assert.equal(pasted.code, 0, pasted.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, ALIAS]);
});

test('a route the alias shadows is named in a warning; up still succeeds', async (t) => {
  const ns = await withNetns(t, 'shadow');
  const root = await tempRoot(t, 'shadow');
  await ipIn(ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
  await ipIn(ns, 'addr', 'add', '192.0.2.10/24', 'dev', 'd0');
  await ipIn(ns, 'link', 'set', 'd0', 'up');
  await ipIn(ns, 'route', 'add', '10.254.0.0/16', 'dev', 'd0');
  await ipIn(ns, 'route', 'add', 'default', 'via', '192.0.2.1');
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'none']);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0] ?? '', /routed by "10\.254\.0\.0\/16 dev d0"/);
  assert.match(warnings[0] ?? '', new RegExp(`If that matters: ${literal(cliFix(`up --ip ADDR --files-root ${root}`))} with`));
  assert.doesNotMatch(warnings[0] ?? '', /default/);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, ALIAS]);
});

test('a late step failing for real rolls back the alias (exit 1, no state)', async (t) => {
  const ns = await withNetns(t, 'rollback');
  const root = await tempRoot(t, 'rollback');
  // A regular file where the unit's folder should be: writing the unit fails after `ip addr replace`.
  await mkdir(join(root, 'etc/systemd'), { recursive: true });
  await writeFile(join(root, 'etc/systemd/system'), 'not a folder\n');
  const addr = await loJson(ns);
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /persist the alias across reboots \(systemd\): .* — the 1 earlier change\(s\) were rolled back/);
  assert.equal(await loJson(ns), addr, 'the alias was removed again');
  assert.equal(existsSync(join(root, 'var/lib/hostalias/state.json')), false, 'no state for a half-done change');
  const journal = await readFile(join(root, 'var/lib/hostalias/journal.log'), 'utf8');
  assert.match(
    journal,
    /up: done ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias\n.*up: FAILED write \/etc\/systemd\/system\/hostalias\.service: .*\n.*up: rolled back: ip addr del 10\.254\.254\.254\/32 dev lo\n$/,
  );
  const status = await runCli(ns, ['status', '--files-root', root]);
  assert.equal(status.code, 6);
});

test('unprivileged up fails with the sudo hint (exit 4) and changes nothing; status needs no root', async (t) => {
  const ns = await withNetns(t, 'unpriv');
  const root = await tempRoot(t, 'unpriv');
  await chmod(root, 0o755);
  const asNobody = (args: string[]) =>
    ns.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath(), ...args], { allowFail: true, timeoutMs: 60_000 });
  const addr = await loJson(ns);
  const r = await asNobody(['up', '--files-root', root, '--ip', '10.254.254.7']);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /needs root/);
  // No terminal, no sudo rights: the exact command with absolute paths (sudo's secure_path may lack node).
  assert.ok(r.stderr.includes(`fix: sudo ${process.execPath} ${cliPath()} up --files-root ${root} --ip 10.254.254.7\n`), r.stderr);
  assert.equal(await loJson(ns), addr);
  assert.deepEqual(await snapshot(root), {});

  const byRoot = await runCli(ns, ['up', '--files-root', root, '--persist', 'none']);
  assert.equal(byRoot.code, 0, byRoot.stderr);
  await chmod(join(root, 'var/lib/hostalias'), 0o755);
  const status = await asNobody(['status', '--files-root', root, '--json']);
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { present: boolean }).present, true);
  const down = await asNobody(['down', '--files-root', root]);
  assert.equal(down.code, 4, down.stderr);
  assert.deepEqual(await loAddrs(ns), [LOOPBACK, ALIAS], 'unprivileged down changed nothing');
});

test('a held lock makes up exit 5 and change nothing', async (t) => {
  const ns = await withNetns(t, 'lock');
  const root = await tempRoot(t, 'lock');
  // The lock of an older hostalias (proper-lockfile's folder) with a fresh mtime: a live holder.
  await mkdir(join(root, 'var/lib/hostalias/lock'), { recursive: true });
  const addr = await loJson(ns);
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd']);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /another hostalias run is changing this system/);
  assert.match(r.stderr, /fix: wait for it to finish/);
  assert.equal(await loJson(ns), addr);
  assert.deepEqual(await snapshot(root), {});
  assert.ok(existsSync(join(root, 'var/lib/hostalias/lock')), 'the other holder keeps its lock');
});

test('--dry-run --json prints steps with shell lines and changes nothing', async (t) => {
  const ns = await withNetns(t, 'dryrun');
  const root = await tempRoot(t, 'dryrun');
  const addr = await loJson(ns);
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd', '--hosts-file', '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { dryRun: boolean; applied: boolean; steps: Array<{ kind: string; shell: string }> };
  assert.equal(out.dryRun, true);
  assert.equal(out.applied, false);
  // The core's steps come first (alias, persistence, hosts file); later features may append theirs.
  assert.deepEqual(
    out.steps.slice(0, 4).map((s) => s.kind),
    ['run', 'write', 'symlink', 'write'],
  );
  for (const s of out.steps) assert.ok(s.shell.startsWith('$ ') || s.shell.startsWith('# write '), s.shell);
  assert.equal(out.steps[0]?.shell, '$ ip addr replace 10.254.254.254/32 dev lo label lo:hostalias');
  assert.match(out.steps[1]?.shell ?? '', new RegExp(`^# write ${root}/etc/systemd/system/hostalias\\.service \\(mode 0644\\)\\n--- /dev/null`));
  assert.match(out.steps[3]?.shell ?? '', /\+10\.254\.254\.254\tlocal_host local host\.docker\.internal/);
  assert.equal(await loJson(ns), addr);
  assert.deepEqual(await snapshot(root), {});

  const text = await runCli(ns, ['up', '--files-root', root, '--dry-run', '--verbose']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^\$ ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias$/m);
  assert.match(
    text.stdout,
    /^persistence decision: none: no systemd in the target root, no netplan, no \/etc\/network\/interfaces; the alias lasts until reboot/m,
    '--verbose says why',
  );
  assert.deepEqual(await snapshot(root), {});

  const down = await runCli(ns, ['down', '--files-root', root, '--dry-run', '--json']);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual((JSON.parse(down.stdout) as { steps: unknown[] }).steps, []);
});
