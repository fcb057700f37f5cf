/**
 * `status`, `flags` and `run --dry-run` start no process to observe (each one is another
 * CLI start): the alias is read with getifaddrs, the engine over its socket. Proved with a PATH
 * that holds only node and nsenter (no ip, no docker): the answers are still right; and the
 * fallback to `ip` for a loopback that is down (getifaddrs leaves it out), which needs ip.
 */
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execArgv } from '../lab/exec.js';
import { runCli, withNetns, type Netns } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';

async function bareEnv(t: Parameters<typeof tempRoot>[0]): Promise<NodeJS.ProcessEnv> {
  const bin = join(await tempRoot(t, 'bare-bin'), 'bin');
  await mkdir(bin);
  for (const name of ['nsenter', 'node']) await symlink((await execArgv(['sh', '-c', `command -v ${name}`])).stdout.trim(), join(bin, name));
  return { ...process.env, PATH: bin, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined };
}

async function presentIn(ns: Netns, root: string, env: NodeJS.ProcessEnv): Promise<{ code: number; line: string; stderr: string }> {
  const r = await runCli(ns, ['status', '--files-root', root], { env });
  return { code: r.code, line: r.stdout.split('\n')[0] ?? '', stderr: r.stderr };
}

test('status without ip or docker on PATH: the alias is read from getifaddrs, labelled or not, /32 only', async (t) => {
  const env = await bareEnv(t);
  const ns = await withNetns(t, 'native');
  const root = await tempRoot(t, 'native');
  let s = await presentIn(ns, root, env);
  assert.equal(s.code, 6, s.stderr);
  assert.match(s.line, /: absent/);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo', 'label', 'lo:hostalias']);
  s = await presentIn(ns, root, env);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.line, /10\.254\.254\.254\/32 on lo: present/);
  await ns.exec(['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo']);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo']);
  assert.equal((await presentIn(ns, root, env)).code, 0, 'unlabelled');
  await ns.exec(['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo']);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/24', 'dev', 'lo', 'label', 'lo:hostalias']);
  assert.equal((await presentIn(ns, root, env)).code, 6, 'a /24 is not the alias');
  // flags and run --dry-run: the same answer, and every name (no engine answers).
  const flags = await runCli(ns, ['flags', '--files-root', root], { env });
  assert.equal(flags.code, 0, flags.stderr);
  assert.equal(flags.stdout.trim(), '--add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254');
  const dry = await runCli(ns, ['run', '--dry-run', '--files-root', root, '--rm', 'busybox', 'true'], { env });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^docker run --add-host=local_host:10\.254\.254\.254 .* --rm busybox true$/m);
});

test('a loopback that is down (getifaddrs omits it): status asks ip, which still lists the alias', async (t) => {
  const env = await bareEnv(t);
  const ns = await withNetns(t, 'lodown');
  const root = await tempRoot(t, 'lodown');
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo', 'label', 'lo:hostalias']);
  await ns.exec(['ip', 'link', 'set', 'lo', 'down']);
  const withIp = await presentIn(ns, root, process.env);
  assert.equal(withIp.code, 0, withIp.stderr);
  // Negative control: without ip on PATH the fallback can't run, so it was the one answering.
  const withoutIp = await runCli(ns, ['status', '--files-root', root], { env });
  assert.notEqual(withoutIp.code, 0);
  assert.match(withoutIp.stderr, /ip is not installed|listing addresses/);
});
