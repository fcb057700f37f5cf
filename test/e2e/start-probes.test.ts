/**
 * `status`, `flags` and `run --dry-run` start no process to observe (each one is another
 * CLI start): the alias is read with getifaddrs, the engine over its socket. Proved on a machine
 * without ip and docker (hidden in a mount namespace): the answers are still right; and the
 * fallback to `ip` for a loopback that is down (getifaddrs leaves it out), which needs ip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cliPath, withNetns, type Netns } from '../lab/netns.js';
import { withoutTools } from '../lab/hide-tools.js';
import { tempRoot } from '../support/e2e.js';

/**
 * `status` run where ip, docker and podman are nowhere (neither on PATH nor in /usr/sbin, where hostalias
 * also looks for tools), so any answer it gives came without starting them.
 */
async function bare(t: Parameters<typeof tempRoot>[0]): Promise<string[]> {
  return withoutTools(t, ['ip', 'docker', 'podman']);
}

async function cliIn(ns: Netns, hide: readonly string[], args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await ns.exec([...hide, process.execPath, cliPath(), ...args], {
    allowFail: true,
    env: { ...process.env, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined },
  });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

async function presentIn(ns: Netns, root: string, hide: readonly string[]): Promise<{ code: number; line: string; stderr: string }> {
  const r = await cliIn(ns, hide, ['status', '--files-root', root]);
  return { code: r.code, line: r.stdout.split('\n')[0] ?? '', stderr: r.stderr };
}

test('status without ip, docker or podman installed: the alias is read from getifaddrs, labelled or not, /32 only', async (t) => {
  const hide = await bare(t);
  const ns = await withNetns(t, 'native');
  const root = await tempRoot(t, 'native');
  let s = await presentIn(ns, root, hide);
  assert.equal(s.code, 6, s.stderr);
  assert.match(s.line, /: absent/);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo', 'label', 'lo:hostalias']);
  s = await presentIn(ns, root, hide);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.line, /10\.254\.254\.254\/32 on lo: present/);
  await ns.exec(['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo']);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo']);
  assert.equal((await presentIn(ns, root, hide)).code, 0, 'unlabelled');
  await ns.exec(['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo']);
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/24', 'dev', 'lo', 'label', 'lo:hostalias']);
  assert.equal((await presentIn(ns, root, hide)).code, 6, 'a /24 is not the alias');
  // flags and run --dry-run: the same answer, and every name (no engine answers).
  const flags = await cliIn(ns, hide, ['flags', '--files-root', root]);
  assert.equal(flags.code, 0, flags.stderr);
  assert.equal(flags.stdout.trim(), '--add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254');
  const dry = await cliIn(ns, hide, ['run', '--dry-run', '--files-root', root, '--rm', 'busybox', 'true']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^docker run --add-host=local_host:10\.254\.254\.254 .* --rm busybox true$/m);
});

test('a loopback that is down (getifaddrs omits it): status asks ip, which still lists the alias', async (t) => {
  const hide = await bare(t);
  const ns = await withNetns(t, 'lodown');
  const root = await tempRoot(t, 'lodown');
  await ns.exec(['ip', 'addr', 'add', '10.254.254.254/32', 'dev', 'lo', 'label', 'lo:hostalias']);
  await ns.exec(['ip', 'link', 'set', 'lo', 'down']);
  const withIp = await presentIn(ns, root, []);
  assert.equal(withIp.code, 0, withIp.stderr);
  // Negative control: without ip the fallback can't run, so it was the one answering.
  const withoutIp = await cliIn(ns, hide, ['status', '--files-root', root]);
  assert.notEqual(withoutIp.code, 0);
  assert.match(withoutIp.stderr, /ip is not installed|listing addresses/);
});
