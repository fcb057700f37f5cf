/**
 * Rootless Docker: Debian's rootlesskit + the engine's dockerd-rootless.sh, run by an
 * unprivileged user made for this test inside a lab namespace (`nsenter --net=NS su - USER`).
 * Its containers reach the host through slirp4netns, which RootlessKit starts and which connects
 * from the namespace's own stack: names by `flags` and by `hostalias run` (as the user, the engine
 * picked from DOCKER_HOST), a 127.0.0.1-only service once exposed (the service sees 127.0.0.1),
 * doctor's account of the mode, and nothing after `down`.
 *
 * SAFETY: the alias and 127.0.0.1 only, inside the namespace made here; the daemon's files and the
 * user's home live in one /tmp/hal-rl-… folder; every process of the user is killed by PID and the
 * user deleted at the end.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { shellQuote } from '../../src/model/shell.js';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { writeBusyboxRootfsTar } from '../lab/dockerd.js';
import { sleep, which, type ExecOptions } from '../lab/exec.js';
import { createLabUser } from '../lab/lab-user.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';
import { ALIAS, ok } from './expose-lab.js';

const SCRIPT = '/usr/share/docker.io/contrib/dockerd-rootless.sh';
const missing = [
  ...['rootlesskit', 'slirp4netns', 'newuidmap', 'dockerd', 'docker', 'su', 'useradd'].filter(
    (c) => which(c, `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`) === undefined,
  ),
  ...(existsSync(SCRIPT) ? [] : [SCRIPT]),
];

test('rootless Docker (RootlessKit + slirp4netns): flags, run, exposed 127.0.0.1 service seen as 127.0.0.1, doctor, down', {
  timeout: 600_000,
  skip: missing.length ? `missing: ${missing.join(', ')}` : false,
}, async (t) => {
  const ns = await withNetns(t, 'rldock');
  const dir = await mkdtemp(`${LAB_TMP_PREFIX}rl-`);
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  const user = await createLabUser('halrl', join(dir, 'home')).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  // One hook, in this order: the user's rootlesskit and dockerd (in their own namespace) go
  // before their home and data do.
  t.after(async () => {
    await user.remove();
    await rm(dir, { recursive: true, force: true });
  });
  const sock = `unix://${user.runtimeDir}/docker.sock`;
  const vars = { XDG_RUNTIME_DIR: user.runtimeDir, DOCKER_HOST: sock, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  const asUser = (argv: readonly string[], o: ExecOptions = {}) =>
    ns.exec(['su', '-', user.name, '-c', shellQuote(['env', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), ...argv])], { timeoutMs: 120_000, ...o });
  const daemon = ns.spawn([
    'su',
    '-',
    user.name,
    '-c',
    shellQuote(['env', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), SCRIPT, '--data-root', join(user.home, 'data'), '-H', sock]),
  ]);
  let log = '';
  daemon.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  let up = false;
  for (let i = 0; i < 120 && !up; i++) {
    up = (await asUser(['docker', 'version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 10_000 })).code === 0;
    if (!up) await sleep(500);
  }
  assert.ok(up, `rootless dockerd did not answer:\n${log}`);
  const work = await mkdtemp(`${LAB_TMP_PREFIX}rlimg-`);
  try {
    await chmod(work, 0o755);
    ok(await asUser(['docker', 'import', '--change', 'CMD ["/bin/sh"]', await writeBusyboxRootfsTar(work), 'hostalias-busybox:test']), 'import busybox');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const image = 'hostalias-busybox:test';
  const root = await tempRoot(t, 'rldock');
  await chmod(root, 0o755);
  // The CLI runs as root here; the rootless engine's socket is the user's, so no engine is asked by root.
  const cli = (args: readonly string[]) =>
    runCli(ns, [...args, '--files-root', root], { env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-rootless/docker.sock' } });
  const tcp = async (runArgs: readonly string[], host: string, port: number) =>
    (await asUser(['docker', 'run', '--rm', ...runArgs, image, 'sh', '-c', `sleep 1 | nc -w 3 ${host} ${port}`], { allowFail: true })).stdout.trim();

  const any = await startReplyServer(ns, { host: '0.0.0.0', reply: 'any-ok\n' });
  const local = await startReplyServer(ns, { host: '127.0.0.1', reply: 'local-ok\n' });
  ok(await cli(['up']), 'up');
  const flags = (await cli(['flags'])).stdout.trim().split(/\s+/);
  assert.equal(await tcp(flags, 'local_host', any.port), 'any-ok', 'docker run $(hostalias flags) in rootless Docker: a 0.0.0.0 service by name');
  const run = await asUser(
    [process.execPath, cliPath(), 'run', '--files-root', root, '--rm', image, 'sh', '-c', `sleep 1 | nc -w 3 host.docker.internal ${any.port}`],
    { allowFail: true },
  );
  assert.equal(run.stdout.trim(), 'any-ok', `hostalias run as the user (DOCKER_HOST names the rootless socket): ${run.stderr}`);

  assert.equal(await tcp(flags, 'local_host', local.port), '', 'a 127.0.0.1-only service refuses before expose');
  ok(await cli(['expose', String(local.port)]), 'expose');
  assert.equal(await tcp(flags, 'local_host', local.port), 'local-ok', 'exposed: the rootless container reaches it (DNAT at nat output)');
  assert.equal(local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the service sees 127.0.0.1');

  const doc = await asUser([process.execPath, cliPath(), 'doctor', '--json', '--files-root', root], { allowFail: true });
  const docker = (JSON.parse(doc.stdout) as { findings: Array<{ id: string; message: string }> }).findings
    .filter((f) => f.id === 'docker')
    .map((f) => f.message)
    .join('\n');
  assert.match(docker, /rootless/, doc.stdout);
  assert.match(docker, /RootlessKit, which connects from the host itself/, doc.stdout);

  ok(await cli(['down']), 'down');
  assert.equal(await tcp(flags, ALIAS, local.port), '', 'after down nothing reaches the exposed port');
});
