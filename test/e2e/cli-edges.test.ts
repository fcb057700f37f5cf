/**
 * The CLI's rough edges, each against the built CLI: a reader that closes early, an
 * unreadable state folder, status after down, no empty /etc/hostalias left, the boot-unit note
 * without systemd, doctor's help, COMPOSE_FILE, and a machine with no packet filter at all
 * (nft and iptables nowhere, not even in /usr/sbin).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execArgv } from '../lab/exec.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { withoutTools } from '../lab/hide-tools.js';
import { loAddrs, tempRoot, cliFix, literal } from '../support/e2e.js';

/** What a minimal Debian lacks: every program of the nftables and iptables packages hostalias runs. */
const PACKET_FILTERS = ['nft', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'iptables-legacy', 'iptables-nft'];

const ALIAS = '10.254.254.254/32 lo:hostalias';

test('a reader that closes early (status | head -1): no EPIPE stack trace, no exit 1', async () => {
  const child = spawn(process.execPath, [cliPath(), 'status', '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // closed before the CLI has written anything: every write hits EPIPE
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled|\n\s+at /, stderr);
  assert.notEqual(code, 1, 'not the crash status');
  assert.ok(code === 0 || code === 6, `status's own exit status (${code})`);
});

test('an unreadable state folder: "permission denied" with the path and the fix, exit 4, no stack trace', async (t) => {
  const ns = await withNetns(t, 'eacces');
  const root = await tempRoot(t, 'eacces');
  await chmod(root, 0o755);
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none', '--no-lan-guard']);
  assert.equal(up.code, 0, up.stderr);
  await chmod(join(root, 'var/lib/hostalias'), 0o700);
  const r = await ns.exec(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath(), 'status', '--files-root', root], {
    allowFail: true,
  });
  assert.equal(r.code, 4, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `^hostalias: ${root}/var/lib/hostalias/state\\.json: permission denied\\n  fix: run it as root \\(${literal(`sudo ${cliFix(`status --files-root ${root}`)}`)}\\)`,
    ),
  );
  assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/);
});

test('after down: status says nothing of a LAN guard, and no empty /etc/hostalias is left', async (t) => {
  const ns = await withNetns(t, 'afterdown');
  const root = await tempRoot(t, 'afterdown');
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none']);
  assert.equal(up.code, 0, up.stderr);
  assert.ok(existsSync(join(root, 'etc/hostalias')), 'up keeps its firewall files in /etc/hostalias');
  const on = await runCli(ns, ['status', '--files-root', root]);
  assert.match(on.stdout, /^lan guard {4}on/m, 'negative control: while up, the guard is reported');
  const down = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
  const off = await runCli(ns, ['status', '--files-root', root]);
  assert.doesNotMatch(off.stdout, /lan guard/);
  assert.equal((JSON.parse((await runCli(ns, ['status', '--files-root', root, '--json'])).stdout) as { lanGuard: boolean }).lanGuard, false);
  assert.equal(
    existsSync(join(root, 'etc/hostalias')),
    false,
    `etc/ holds ${existsSync(join(root, 'etc')) ? readdirSync(join(root, 'etc')).join(', ') : 'nothing'}`,
  );
});

test('--persist systemd where systemd is not installed: the note says so', async (t) => {
  const ns = await withNetns(t, 'nosysd');
  const root = await tempRoot(t, 'nosysd');
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /not restored at boot \(systemd is not installed here: nothing would start a unit, not even the alias unit --persist systemd wrote\)/);
  assert.doesNotMatch(r.stdout, /systemd-based backend/);
});

test('doctor --help offers no --dry-run (doctor changes nothing anyway)', async () => {
  const help = (await execArgv([process.execPath, cliPath(), 'doctor', '--help'])).stdout;
  assert.doesNotMatch(help, /dry-run/);
  const upHelp = (await execArgv([process.execPath, cliPath(), 'up', '--help'])).stdout;
  assert.match(upHelp, /--dry-run/, 'negative control: a changing command has it');
});

test('compose honours COMPOSE_FILE (its separator, relative paths); -f still wins', async (t) => {
  const dir = await tempRoot(t, 'composeenv');
  await writeFile(join(dir, 'base.yaml'), 'services:\n  web:\n    image: busybox\n');
  await writeFile(join(dir, 'extra.yaml'), 'services:\n  worker:\n    image: busybox\n');
  await writeFile(join(dir, 'compose.yaml'), 'services:\n  ignored:\n    image: busybox\n');
  const run = (args: string[], env: Record<string, string>) =>
    execArgv([process.execPath, cliPath(), 'compose', ...args], { cwd: dir, env: { ...process.env, ...env }, allowFail: true });
  const r = await run([], { COMPOSE_FILE: 'base.yaml:extra.yaml' });
  assert.equal(r.code, 0, r.stderr);
  const out = await readFile(join(dir, 'compose.hostalias.yaml'), 'utf8');
  assert.match(out, /^ {2}web:$/m);
  assert.match(out, /^ {2}worker:$/m);
  assert.doesNotMatch(out, /ignored/, 'compose.yaml is not read when COMPOSE_FILE names the files');
  const sep = await run(['-o', 'sep.yaml'], { COMPOSE_FILE: 'extra.yaml;base.yaml', COMPOSE_PATH_SEPARATOR: ';' });
  assert.equal(sep.code, 0, sep.stderr);
  assert.match(await readFile(join(dir, 'sep.yaml'), 'utf8'), /^ {2}web:$/m);
  const flag = await run(['-f', 'compose.yaml', '-o', 'flag.yaml'], { COMPOSE_FILE: 'base.yaml' });
  assert.equal(flag.code, 0, flag.stderr);
  assert.match(await readFile(join(dir, 'flag.yaml'), 'utf8'), /^ {2}ignored:$/m);
  const missing = await run(['-o', 'x.yaml'], { COMPOSE_FILE: 'nope.yaml' });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml: no such compose file \(named by COMPOSE_FILE=nope\.yaml\)/);
});

test('no packet filter installed: up works and warns once, expose fails with the fix and suggests forward, doctor reports it', async (t) => {
  // A minimal Debian: nft and iptables are nowhere, not even in /usr/sbin, where hostalias looks too.
  const hide = await withoutTools(t, PACKET_FILTERS);
  const ns = await withNetns(t, 'nofilter');
  const root = await tempRoot(t, 'nofilter');
  const hidden = async (args: string[]) => {
    const r = await ns.exec([...hide, process.execPath, cliPath(), ...args], { allowFail: true, timeoutMs: 60_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  const warning = new RegExp(
    `^warning: the LAN guard is off: neither nft nor iptables is installed, .* — fix: sudo apt-get install nftables && ${literal(cliFix('up'))}( --files-root \\S+)?$`,
    'm',
  );

  const dry = await hidden(['up', '--dry-run']);
  assert.equal(dry.code, 0, `README's main-job command: ${dry.stderr}`);
  assert.match(dry.stderr, warning);

  const up = await hidden(['up', '--files-root', root, '--persist', 'systemd']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.stderr.match(new RegExp(warning.source, 'gm'))?.length, 1, `warned once: ${up.stderr}`);
  assert.ok((await loAddrs(ns)).includes(ALIAS), 'the alias is up');
  assert.ok(existsSync(join(root, 'etc/systemd/system/hostalias.service')), 'and persisted');
  assert.equal(existsSync(join(root, 'etc/hostalias')), false, 'no firewall files for a filter that is not there');

  // A service on 127.0.0.1:5432, so `expose` picks kernel rules (expose relays when nothing listens there).
  const pg = await startReplyServer(ns, { host: '127.0.0.1', port: 5432 });
  t.after(() => pg.stop());
  const expose = await hidden(['expose', '5432', '--files-root', root]);
  assert.equal(expose.code, 7, expose.stderr);
  assert.match(expose.stderr, /exposing 5432\/tcp needs a packet filter \(DNAT rules\), and neither nft nor iptables is installed/);
  assert.ok(
    expose.stderr.includes(
      `fix: sudo apt-get install nftables, then run it again; or relay the port in userspace instead, no packet filter needed: ${cliFix(`forward 5432 --files-root ${root}`)}\n`,
    ),
    expose.stderr,
  );
  const state = JSON.parse(await readFile(join(root, 'var/lib/hostalias/state.json'), 'utf8')) as { desired: { exposes: unknown[] } };
  assert.deepEqual(state.desired.exposes, [], 'nothing recorded');

  const doctor = await hidden(['doctor', '--files-root', root, '--json']);
  const findings = (JSON.parse(doctor.stdout) as { findings: Array<{ id: string; status: string; message: string; fix: string | null }> }).findings;
  const fw = findings.filter((f) => f.id === 'firewall');
  assert.equal(fw.length, 1, JSON.stringify(fw));
  assert.equal(fw[0]?.status, 'warn');
  assert.match(fw[0]?.message ?? '', /no packet filter \(nft, iptables\) is installed: the LAN guard is off/);
  assert.equal(fw[0]?.fix, `sudo apt-get install nftables && ${cliFix(`up --files-root ${root}`)}`);

  const withFilter = await runCli(ns, ['up', '--files-root', root, '--dry-run']);
  assert.doesNotMatch(withFilter.stderr, warning, 'negative control: with nft on PATH there is no warning');
  assert.match(withFilter.stdout, /nft -f /, 'and the guard is planned');
  const down = await hidden(['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
});
