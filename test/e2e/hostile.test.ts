/**
 * Issue 15 against the real kernel and a real dockerd, each test in its own namespace with
 * --files-root on a fresh folder: symlink and umask attacks planted by an unprivileged user
 * (victim files hashed), and doctor against 5,000 firewall rules (bounded time and output).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, readFile, rm, stat, symlink, writeFile, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { execArgv } from '../lab/exec.js';
import { cliPath, runCli, withNetns } from '../lab/netns.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

const NOBODY = 65534;

async function hashTree(files: readonly string[]): Promise<string[]> {
  return Promise.all(files.map(async (f) => {
    const st = await stat(f);
    return `${f} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${createHash('sha256').update(await readFile(f)).digest('hex')}`;
  }));
}

/** Runs `argv` as nobody (the unprivileged attacker). */
async function asNobody(argv: string[]): Promise<void> {
  await execArgv(['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv]);
}

test('symlinks planted by an unprivileged user and umask 000: hostalias refuses naming the link, writes nothing outside, creates 0755 dirs', { timeout: 180_000 }, async (t) => {
  const ns = await withNetns(t, 'hostile');
  const victimDir = await mkdtemp(`${LAB_TMP_PREFIX}victim-`);
  t.after(() => rm(victimDir, { recursive: true, force: true }));
  const victims = [join(victimDir, 'shadow'), join(victimDir, 'journal.log'), join(victimDir, 'state.json')];
  for (const v of victims) await writeFile(v, `secret ${v}\n`, { mode: 0o600 });
  const before = await hashTree(victims);

  const root = await tempRoot(t, 'hostile');
  await execArgv(['chmod', '0755', root]);
  // The attacker owns the parents of hostalias's directories (a careless image tree, or dirs an
  // older version created 0777) and plants links where hostalias's own directories go.
  for (const d of ['var/lib', 'etc']) {
    await mkdir(join(root, d), { recursive: true });
    await chown(join(root, d), NOBODY, NOBODY);
  }
  await asNobody(['ln', '-s', victimDir, join(root, 'var/lib/hostalias')]);
  const umask000 = (args: string[]) => ns.exec(['sh', '-c', 'umask 000; exec "$@"', 'sh', process.execPath, cliPath(), ...args], { allowFail: true });
  const refused = await umask000(['up', '--files-root', root, '--persist', 'systemd', '--hosts-file']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`refusing to use ${root}/var/lib/hostalias: it is a symbolic link`));
  assert.deepEqual(await hashTree(victims), before, 'no victim file changed');
  assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo'], 'nothing was left applied');

  // The link to the journal inside a real directory, and one at /etc/hostalias: the same.
  await rm(join(root, 'var/lib/hostalias'));
  await mkdir(join(root, 'var/lib/hostalias'), { mode: 0o755 });
  await symlink(join(victimDir, 'journal.log'), join(root, 'var/lib/hostalias/journal.log'));
  const journal = await umask000(['up', '--files-root', root, '--persist', 'systemd']);
  assert.notEqual(journal.code, 0);
  assert.match(journal.stderr, /journal\.log: it is a symbolic link/);
  await rm(join(root, 'var/lib/hostalias/journal.log'));
  await asNobody(['ln', '-s', victimDir, join(root, 'etc/hostalias')]);
  const etc = await umask000(['up', '--files-root', root, '--persist', 'systemd']);
  assert.equal(etc.code, 1, etc.stderr);
  assert.match(etc.stderr, new RegExp(`${root}/etc/hostalias: it is a symbolic link`));
  assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo'], 'rolled back');
  assert.deepEqual(await hashTree(victims), before, 'no victim file changed');

  // Negative control: with the links gone the same command works, and under umask 000 every
  // directory it creates is 0755 and every file has its own explicit mode.
  await rm(join(root, 'etc/hostalias'));
  const ok = await umask000(['up', '--files-root', root, '--persist', 'systemd', '--hosts-file']);
  assert.equal(ok.code, 0, ok.stderr);
  for (const d of ['etc/hostalias', 'var/lib/hostalias', 'etc/systemd/system', 'etc/systemd/system/multi-user.target.wants']) {
    assert.equal((await stat(join(root, d))).mode & 0o7777, 0o755, d);
  }
  assert.equal((await stat(join(root, 'var/lib/hostalias/state.json'))).mode & 0o7777, 0o644);
  assert.equal((await stat(join(root, 'var/lib/hostalias/journal.log'))).mode & 0o7777, 0o600);
  assert.equal((await stat(join(root, 'etc/systemd/system/hostalias.service'))).mode & 0o7777, 0o644);
  const down = await umask000(['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
  for (const d of ['etc/hostalias', 'etc/systemd/system/multi-user.target.wants']) {
    await assert.rejects(lstat(join(root, d)), /ENOENT/, `${d} removed once empty`);
  }
  assert.deepEqual(await hashTree(victims), before, 'no victim file changed');
});

test('doctor with 5,000 firewall rules finishes within 5 s with bounded output', { timeout: 180_000 }, async (t) => {
  const ns = await withNetns(t, 'rules');
  await ns.exec(['ip', 'link', 'add', 'docker0', 'type', 'bridge']);
  const rules = Array.from({ length: 5000 }, (_, i) => `-A INPUT -p tcp -m multiport --dports ${1000 + (i % 60000)},${2000 + (i % 60000)} -j DROP`).join('\n');
  await ns.exec(['iptables-restore'], { input: `*filter\n:INPUT ACCEPT [0:0]\n${rules}\nCOMMIT\n` });
  const root = await tempRoot(t, 'rules');
  const started = Date.now();
  const text = await runCli(ns, ['doctor', '--files-root', root], { timeoutMs: 120_000, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' } });
  const took = Date.now() - started;
  assert.ok(took <= 5_000, `doctor took ${took} ms`);
  assert.match(text.stdout, /… \d+ more \(\d+ failed, \d+ warnings, \d+ ok\): hostalias doctor --json lists them all/);
  assert.ok(text.stdout.split('\n').length < 200, `text report of ${text.stdout.split('\n').length} lines`);
  const json = await runCli(ns, ['doctor', '--files-root', root, '--json'], { timeoutMs: 120_000, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' } });
  const findings = (JSON.parse(json.stdout) as { findings: unknown[] }).findings;
  assert.ok(findings.length <= 5100, `one finding per rule at most (${findings.length})`);
});
