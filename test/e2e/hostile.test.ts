/**
 * Hostile and careless use against the real kernel and a real dockerd, each test in its own namespace with
 * --files-root on a fresh folder: symlink and umask attacks planted by an unprivileged user
 * (victim files hashed), and doctor against 5,000 firewall rules (bounded time and output).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, readFile, rm, stat, symlink, writeFile, mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { execArgv } from '../lab/exec.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

const NOBODY = 65534;

async function hashTree(files: readonly string[]): Promise<string[]> {
  return Promise.all(
    files.map(async (f) => {
      const st = await stat(f);
      return `${f} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${createHash('sha256')
        .update(await readFile(f))
        .digest('hex')}`;
    }),
  );
}

/** Runs `argv` as nobody (the unprivileged attacker). */
async function asNobody(argv: string[]): Promise<void> {
  await execArgv(['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv]);
}

test('symlinks planted by an unprivileged user and umask 000: hostalias refuses naming the link, writes nothing outside, creates 0755 dirs', {
  timeout: 180_000,
}, async (t) => {
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

/** A socket that accepts connections and never answers: a hung Docker engine. */
async function silentSocket(path: string): Promise<{ close(): Promise<void> }> {
  const held: net.Socket[] = [];
  const server = net.createServer((s) => void held.push(s));
  await new Promise<void>((r) => server.listen(path, r));
  // server.close() waits for every connection to end: end the held ones first.
  return {
    close: () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  };
}

test('a silent engine never shrinks trust: refresh keeps the custom bridge trusted and a container still connects; doctor stays bounded', {
  timeout: 300_000,
}, async (t) => {
  const ns = await withNetns(t, 'silent');
  const d = await startDockerd(ns);
  const image = await buildBusyboxImage(d);
  await d.docker(['network', 'create', '-o', 'com.docker.network.bridge.name=appnet0', 'appnet']);
  const root = await tempRoot(t, 'silent');
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none'], { env: d.env });
  assert.equal(up.code, 0, up.stderr);
  await startReplyServer(ns, { host: '10.254.254.254', port: 8080, reply: 'alias-ok\n' });
  const reach = async () =>
    (await d.docker(['run', '--rm', '--network', 'appnet', image, 'sh', '-c', 'echo hi | nc -w 3 10.254.254.254 8080'], { allowFail: true, timeoutMs: 60_000 }))
      .stdout;
  assert.match(await reach(), /alias-ok/, 'before: the container on appnet0 reaches the alias');

  const sockDir = await mkdtemp(`${LAB_TMP_PREFIX}silent-`);
  t.after(() => rm(sockDir, { recursive: true, force: true }));
  const silent = await silentSocket(join(sockDir, 'docker.sock'));
  t.after(() => silent.close());
  const silentEnv = { ...d.env, DOCKER_HOST: `unix://${join(sockDir, 'docker.sock')}` };

  const refresh = await runCli(ns, ['refresh', '--files-root', root], { env: silentEnv, timeoutMs: 120_000 });
  assert.equal(refresh.code, 0, refresh.stderr);
  assert.match(refresh.stderr, /did not answer, so the bridges it reported last time stay trusted \(.*appnet0/);
  assert.match(await reach(), /alias-ok/, 'after a refresh with a silent engine the container still connects');

  // The engine probe has its own bound: doctor ends (the lab's timeout is only a hang guard).
  const doctor = await runCli(ns, ['doctor', '--files-root', root, '--json'], { env: silentEnv, timeoutMs: 120_000 });
  assert.notEqual(doctor.code, 124, 'doctor with a silent engine ends by itself');
  assert.ok(JSON.parse(doctor.stdout).findings.length > 0, doctor.stderr);

  // Negative control: without the record of the last bridges, a silent engine would leave
  // appnet0 (a name no engine gives by default) untrusted and the container cut off.
  const recordPath = join(root, 'var/lib/hostalias/firewall.json');
  const record = JSON.parse(await readFile(recordPath, 'utf8')) as { bridges?: string[] };
  assert.ok(record.bridges?.includes('appnet0'), 'the record names the bridges the engine reported');
  delete record.bridges;
  await writeFile(recordPath, `${JSON.stringify(record)}\n`);
  const cut = await runCli(ns, ['refresh', '--files-root', root], { env: silentEnv, timeoutMs: 120_000 });
  assert.equal(cut.code, 0, cut.stderr);
  assert.doesNotMatch(await reach(), /alias-ok/, 'control: appnet0 untrusted, the container is cut off');
  const back = await runCli(ns, ['refresh', '--files-root', root], { env: d.env, timeoutMs: 120_000 });
  assert.equal(back.code, 0, back.stderr);
  assert.match(await reach(), /alias-ok/, 'the engine answers again: trusted again');
  const down = await runCli(ns, ['down', '--files-root', root], { env: d.env });
  assert.equal(down.code, 0, down.stderr);
});

test('doctor with 5,000 firewall rules finishes with bounded output', { timeout: 180_000 }, async (t) => {
  const ns = await withNetns(t, 'rules');
  await ns.exec(['ip', 'link', 'add', 'docker0', 'type', 'bridge']);
  const rules = Array.from({ length: 5000 }, (_, i) => `-A INPUT -p tcp -m multiport --dports ${1000 + (i % 60000)},${2000 + (i % 60000)} -j DROP`).join('\n');
  await ns.exec(['iptables-restore'], { input: `*filter\n:INPUT ACCEPT [0:0]\n${rules}\nCOMMIT\n` });
  const root = await tempRoot(t, 'rules');
  // Speed is not asserted here (a loaded machine would fail it): the walk's work is bounded by
  // the rule-walk unit test; this is the end-to-end shape of the report.
  const text = await runCli(ns, ['doctor', '--files-root', root], { timeoutMs: 120_000, env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' } });
  assert.match(text.stdout, /… \d+ more \(\d+ failed, \d+ warnings, \d+ ok\): hostalias doctor --json lists them all/);
  assert.ok(text.stdout.split('\n').length < 200, `text report of ${text.stdout.split('\n').length} lines`);
  const json = await runCli(ns, ['doctor', '--files-root', root, '--json'], {
    timeoutMs: 120_000,
    env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent.sock' },
  });
  const findings = (JSON.parse(json.stdout) as { findings: unknown[] }).findings;
  assert.ok(findings.length <= 5100, `one finding per rule at most (${findings.length})`);
});
