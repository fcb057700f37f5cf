/**
 * `hostalias run` from the launcher's cache (`run` adds ≤ 10% to `docker run`): the
 * command a user runs, dist/cli/hostalias, execs the engine CLI itself when the cache Node kept
 * still holds, and asks Node whenever anything the answer depended on changed.
 *
 * Each run happens in a namespace this file creates (its lo holds the alias `up` added there)
 * and in a mount namespace (test/lab/state-mount.ts) where the state `up --files-root` wrote is
 * bound at /var/lib, the path a plain `hostalias run` reads. Whether Node ran is seen, not guessed: the
 * engine CLI prints its pid, and an exec from the cache keeps the launcher's. Every engine is the
 * real thing or a recorder of its arguments; the engine API is a real HTTP server on a real
 * socket answering with real engines' JSON. The user is `nobody` (uid 65534) with a home of its
 * own: the launcher runs no cache as root.
 */
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, lchown, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { execArgv, labEnv } from '../lab/exec.js';
import { repoRoot, runCli, withNetns, type Netns } from '../lab/netns.js';
import { mountStateAt, type StateMount } from '../lab/state-mount.js';
import { tempRoot } from '../support/e2e.js';
import { fakeEngine } from '../support/fake-docker.js';

const ALIAS = '10.254.254.254';
const ADD_HOSTS = ['local_host', 'local', 'host.docker.internal'].map((n) => `--add-host=${n}:${ALIAS}`);
const LAUNCHER = join(repoRoot(), 'dist', 'cli', 'hostalias');
/** Who runs `hostalias run` here: a user, not root. */
const USER = 65534;
const AS_USER = ['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', '--'];
/** Records how it was started: its pid, its arguments, HOSTALIAS_ variables, a line of stdin. */
const RECORDER = `#!/bin/sh
echo "engine=$$"
for a in "$@"; do echo "arg=$a"; done
env | grep '^HOSTALIAS_' | sed 's/^/env=/'
IFS= read -r line && echo "stdin=$line"
exit 7
`;

interface Lab {
  ns: Netns;
  /** Where commands see the state `up --files-root root` wrote at /var/lib. */
  state: StateMount;
  root: string;
  home: string;
  bin: string;
  cache: string;
  env: NodeJS.ProcessEnv;
}

interface Run {
  /** The engine CLI is the launcher's own process: Node never ran. */
  fromCache: boolean;
  args: string[];
  leaked: string[];
  stdin: string | null;
  code: number;
  stdout: string;
  stderr: string;
}

/** Dates files a minute back, as if they were made long before the run (a change seconds before a run isn't trusted). */
async function settle(...paths: string[]): Promise<void> {
  const then = new Date(Date.now() - 60_000);
  for (const p of paths) await utimes(p, then, then);
}

async function makeLab(t: TestContext, tag: string, engine: string | null = RECORDER): Promise<Lab> {
  const ns = await withNetns(t, tag);
  const root = await tempRoot(t, tag);
  await chmod(root, 0o755); // the user reaches its home and bin through it
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none']);
  assert.equal(up.code, 0, up.stderr);
  await settle(join(root, 'var/lib/hostalias/state.json'));
  const home = join(root, 'home');
  const bin = join(root, 'bin');
  await mkdir(home);
  await mkdir(bin);
  await chown(home, USER, USER);
  if (engine !== null) await writeFile(join(bin, 'docker'), engine, { mode: 0o755 });
  const env = labEnv({ ...process.env, HOME: home, PATH: `${bin}:${process.env['PATH'] ?? ''}` });
  for (const v of [
    'DOCKER_HOST',
    'DOCKER_CONTEXT',
    'DOCKER_CONFIG',
    'DOCKER_TLS',
    'DOCKER_TLS_VERIFY',
    'CONTAINER_HOST',
    'XDG_CACHE_HOME',
    'HOSTALIAS_NO_RUN_CACHE',
  ])
    delete env[v];
  const state = await mountStateAt(ns, join(root, 'var/lib'));
  return { ns, state, root, home, bin, cache: join(home, '.cache/hostalias/run.cache'), env };
}

/** `hostalias run ARGS…` as a user types it, in the lab's namespace, with its state at /var/lib. */
async function hostaliasRun(l: Lab, args: string[], opts: { env?: Record<string, string | undefined>; input?: string; asRoot?: boolean } = {}): Promise<Run> {
  const env = { ...l.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const who = opts.asRoot ? [] : AS_USER;
  const r = await execArgv(l.state.argv([...who, 'sh', '-c', 'echo "launcher=$$"; exec "$@"', 'sh', LAUNCHER, 'run', ...args]), {
    env,
    input: opts.input ?? '',
    allowFail: true,
    timeoutMs: 60_000,
  });
  const lines = r.stdout.split('\n');
  const value = (k: string) => lines.filter((x) => x.startsWith(`${k}=`)).map((x) => x.slice(k.length + 1));
  return {
    fromCache: value('launcher')[0] !== undefined && value('launcher')[0] === value('engine')[0],
    args: value('arg'),
    leaked: value('env'),
    stdin: value('stdin')[0] ?? null,
    code: r.code,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

/**
 * A run after a change (Node: the cache can't be trusted), then, once the files that changed are
 * dated back, a run from the cache Node kept, which must give what Node gave.
 */
async function warm(l: Lab, args: string[], opts: { env?: Record<string, string | undefined>; changed?: string[] } = {}): Promise<{ first: Run; next: Run }> {
  const first = await hostaliasRun(l, args, { env: opts.env });
  await settle(...(opts.changed ?? []));
  const next = await hostaliasRun(l, args, { env: opts.env });
  assert.equal(next.fromCache, true, `the next run comes from the cache (stderr: ${next.stderr})`);
  assert.deepEqual(next.args, first.args, 'the cache gives the arguments Node gave');
  assert.equal(next.stderr, first.stderr, 'and the same notes');
  return { first, next };
}

/** A fake engine whose socket the user may connect to (a unix socket needs write permission). */
async function userEngine(t: TestContext, socket: string, version: string, info: string): ReturnType<typeof fakeEngine> {
  const engine = await fakeEngine(t, socket, version, info);
  await chmod(socket, 0o666);
  return engine;
}

const statePath = (l: Lab) => join(l.root, 'var/lib/hostalias/state.json');

test('hostalias run: the cache gives what Node gives, without Node, until anything it depended on changes', async (t) => {
  const l = await makeLab(t, 'runcache');

  await t.test("a first run asks Node, which keeps the cache; the next is the engine CLI exec'd from it", async () => {
    const first = await hostaliasRun(l, ['--rm', '-i', 'img', 'sh', '-c', 'true'], { input: 'hello\n' });
    assert.equal(first.fromCache, false);
    assert.deepEqual(first.args, ['run', ...ADD_HOSTS, '--rm', '-i', 'img', 'sh', '-c', 'true']);
    assert.equal(first.code, 7, "the engine's exit status passes through");
    assert.equal(first.stdin, 'hello');
    assert.deepEqual(first.leaked, [], 'the engine inherits no HOSTALIAS_ variable');
    assert.equal((await stat(l.cache)).mode & 0o777, 0o600);
    assert.match(await readFile(l.cache, 'utf8'), /^hostalias run cache \d+\n[\s\S]*\n\.\n$/);
    assert.equal((await stat(l.cache)).uid, USER, "the user's own file");
    const next = await hostaliasRun(l, ['--rm', '-i', 'img', 'sh', '-c', 'true'], { input: 'hello\n' });
    assert.equal(next.fromCache, true);
    assert.deepEqual(next.args, first.args);
    assert.equal(next.code, 7);
    assert.equal(next.stdin, 'hello', "stdin is the user's, not the cache file");
    assert.deepEqual(next.leaked, []);
    assert.equal(next.stderr, '');
  });

  await t.test('new names from up: Node once, then the new names from the cache', async () => {
    const up = await runCli(l.ns, ['up', '--files-root', l.root, '--persist', 'none', '--names', 'db.example,cache.example']);
    assert.equal(up.code, 0, up.stderr);
    const { first } = await warm(l, ['--rm', 'img'], { changed: [statePath(l)] });
    assert.equal(first.fromCache, false);
    assert.deepEqual(first.args, ['run', `--add-host=db.example:${ALIAS}`, `--add-host=cache.example:${ALIAS}`, '--rm', 'img']);
    const back = await runCli(l.ns, ['up', '--files-root', l.root, '--persist', 'none', '--names', 'local_host,local,host.docker.internal']);
    assert.equal(back.code, 0, back.stderr);
    const again = await warm(l, ['--rm', 'img'], { changed: [statePath(l)] });
    assert.equal(again.first.fromCache, false);
    assert.deepEqual(again.first.args, ['run', ...ADD_HOSTS, '--rm', 'img']);
  });

  await t.test('another engine (DOCKER_HOST), the engine restarted, its socket relinked: Node each time', async () => {
    const desktop = join(l.root, 'desktop.sock');
    const engine = await userEngine(t, desktop, 'version-desktop.json', 'info-desktop.json');
    const { first: viaDesktop } = await warm(l, ['--rm', 'img'], { env: { DOCKER_HOST: `unix://${desktop}` }, changed: [desktop] });
    assert.equal(viaDesktop.fromCache, false, 'another DOCKER_HOST');
    assert.deepEqual(viaDesktop.args, ['run', ...ADD_HOSTS.slice(0, 2), '--rm', 'img'], 'Docker Desktop keeps its own host.docker.internal');
    assert.match(viaDesktop.stderr, /^note: host\.docker\.internal is left as it is/, "the cache prints Node's note");

    await engine.close();
    await rm(desktop, { force: true });
    await userEngine(t, desktop, 'version-engine-20.10.json', 'info-engine-20.10.json');
    const restarted = await hostaliasRun(l, ['--rm', 'img'], { env: { DOCKER_HOST: `unix://${desktop}` } });
    assert.equal(restarted.fromCache, false, 'a socket made after the cache means another engine start');
    assert.deepEqual(restarted.args, ['run', ...ADD_HOSTS, '--rm', 'img'], "and the new engine's answer counts");

    const link = join(l.root, 'engine.sock');
    await symlink(desktop, link);
    await warm(l, ['--rm', 'img'], { env: { DOCKER_HOST: `unix://${link}` }, changed: [desktop] });
    const other = join(l.root, 'other.sock');
    await userEngine(t, other, 'version-desktop.json', 'info-desktop.json');
    await settle(other);
    await rm(link);
    await symlink(other, link);
    const relinked = await hostaliasRun(l, ['--rm', 'img'], { env: { DOCKER_HOST: `unix://${link}` } });
    assert.equal(relinked.fromCache, false, 'a link pointing elsewhere, even at an older socket');
    assert.deepEqual(relinked.args, ['run', ...ADD_HOSTS.slice(0, 2), '--rm', 'img']);
  });

  await t.test('a docker context made, another engine CLI on PATH: Node each time', async () => {
    await warm(l, ['--rm', 'img']);
    await mkdir(join(l.home, '.docker'));
    await writeFile(join(l.home, '.docker/config.json'), '{}\n');
    const configured = await warm(l, ['--rm', 'img'], { changed: [join(l.home, '.docker/config.json')] });
    assert.equal(configured.first.fromCache, false, 'config.json appeared');
    const podmanDir = join(l.root, 'podman-bin');
    await mkdir(podmanDir);
    await writeFile(join(podmanDir, 'podman'), RECORDER, { mode: 0o755 });
    const env = { PATH: `${podmanDir}:${l.env['PATH'] ?? ''}` };
    assert.equal((await hostaliasRun(l, ['--rm', 'img'], { env })).fromCache, false, 'podman appeared on PATH');
    await rm(join(podmanDir, 'podman'));
    await writeFile(join(l.bin, 'podman'), RECORDER, { mode: 0o755 });
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'podman appeared in a folder already on PATH');
    await rm(join(l.bin, 'podman'));
  });

  await t.test('the alias gone from lo: Node warns and the cache is dropped; back: cached again', async () => {
    await warm(l, ['--rm', 'img']);
    await l.ns.exec(['ip', 'address', 'del', `${ALIAS}/32`, 'dev', 'lo']);
    const gone = await hostaliasRun(l, ['--rm', 'img']);
    assert.equal(gone.fromCache, false);
    assert.match(gone.stderr, /warning: the alias 10\.254\.254\.254 is not on lo/);
    await assert.rejects(stat(l.cache), { code: 'ENOENT' }, 'no cache is kept while Node warns');
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false);
    await l.ns.exec(['ip', 'address', 'add', `${ALIAS}/32`, 'dev', 'lo']);
    await warm(l, ['--rm', 'img']);
  });

  await t.test("another boot, a torn cache, a cache of another user's: Node", async () => {
    await warm(l, ['--rm', 'img']);
    const text = await readFile(l.cache, 'utf8');
    const { mtime } = await stat(l.cache);
    // Each as Node would have dated it: only the one change counts.
    const rewrite = async (body: string) => {
      await writeFile(l.cache, body, { mode: 0o600 });
      await chown(l.cache, USER, USER);
      await utimes(l.cache, mtime, mtime);
    };
    await rewrite(text);
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, true, 'the same text, rewritten, still holds');
    await rewrite(text.replace(/^B .*$/m, 'B 00000000-0000-4000-8000-000000000000'));
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'a cache from another boot');
    await rewrite(text.replace(/\n\.\n$/, '\n'));
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'a cache without its end');
    await rewrite(text);
    await lchown(l.cache, 1234, 1234);
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'a cache owned by another user');
    assert.equal((await stat(l.cache)).uid, USER, 'Node replaced it with one of its own');
    // Only the magic line, the engine and the end: no key, boot, files or alias to check.
    await rewrite(`${text.split('\n')[0]}\nC ${join(l.bin, 'docker')}\n.\n`);
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'a cache of only a C line');
    await rewrite(text.replace(/^K .*\n/m, ''));
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'a cache without its key');
    await rewrite(text.replace(/^(B .*\n)([\s\S]*)^(L .*\n)/m, '$1$3$2'));
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, false, 'the lines out of order');
  });

  await t.test("hostalias options, the user's own --add-host and HOSTALIAS_NO_RUN_CACHE=1 go to Node", async () => {
    await warm(l, ['--rm', 'img']);
    const dry = await hostaliasRun(l, ['--dry-run', '--rm', 'img']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, new RegExp(`^docker run ${ADD_HOSTS[0]} .* --rm img$`, 'm'));
    const own = await hostaliasRun(l, ['--add-host', 'local:192.0.2.7', '--rm', 'img']);
    assert.equal(own.fromCache, false);
    assert.deepEqual(own.args, ['run', ADD_HOSTS[0], ADD_HOSTS[2], '--add-host', 'local:192.0.2.7', '--rm', 'img']);
    const off = await hostaliasRun(l, ['--rm', 'img'], { env: { HOSTALIAS_NO_RUN_CACHE: '1' } });
    assert.equal(off.fromCache, false);
    assert.deepEqual(off.args, ['run', ...ADD_HOSTS, '--rm', 'img']);
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, true, 'none of them spoiled the cache');
  });

  await t.test('state.json replaced by other content with an older time: Node, and the new names', async () => {
    await warm(l, ['--rm', 'img']);
    const state = statePath(l);
    const { mtime } = await stat(state);
    const text = await readFile(state, 'utf8');
    const other = JSON.parse(text) as { desired: { names: string[] } };
    other.desired.names = ['db.example'];
    await writeFile(`${state}.new`, `${JSON.stringify(other, null, 2)}\n`);
    const older = new Date(mtime.getTime() - 3600_000);
    await utimes(`${state}.new`, older, older);
    await rename(`${state}.new`, state);
    const after = await hostaliasRun(l, ['--rm', 'img']);
    assert.equal(after.fromCache, false, 'the content changed, whatever its time says');
    assert.deepEqual(after.args, ['run', `--add-host=db.example:${ALIAS}`, '--rm', 'img']);
    await writeFile(`${state}.new`, text);
    await utimes(`${state}.new`, older, older);
    await rename(`${state}.new`, state);
    await warm(l, ['--rm', 'img']);
  });

  await t.test("as root, with the user's HOME (sudo -E): no cache is run, and root keeps none", async () => {
    await warm(l, ['--rm', 'img']);
    const before = await readFile(l.cache);
    const { mtimeMs } = await stat(l.cache);
    // A valid cache of root's own too, as root would have kept it: still not run.
    const rootHome = join(l.root, 'root-home');
    await mkdir(join(rootHome, '.cache/hostalias'), { recursive: true });
    await copyFile(l.cache, join(rootHome, '.cache/hostalias/run.cache'));
    for (const home of [l.home, rootHome]) {
      const asRoot = await hostaliasRun(l, ['--rm', 'img'], { asRoot: true, env: { HOME: home } });
      assert.equal(asRoot.fromCache, false, `root with HOME=${home}: Node`);
      assert.deepEqual(asRoot.args, ['run', ...ADD_HOSTS, '--rm', 'img']);
    }
    assert.ok((await readFile(l.cache)).equals(before), "the user's cache untouched");
    assert.equal((await stat(l.cache)).mtimeMs, mtimeMs);
    assert.equal((await stat(l.cache)).uid, USER);
    assert.deepEqual(await readdir(join(l.home, '.cache/hostalias')), ['run.cache'], 'nothing else written there');
    assert.equal((await hostaliasRun(l, ['--rm', 'img'])).fromCache, true, 'the user still runs from it');
  });
});

test('hostalias run with a real dockerd: a run from the cache starts no Node, and the container has the names', async (t) => {
  const l = await makeLab(t, 'runcachedk', null);
  const d = await startDockerd(l.ns);
  t.after(() => d.stop());
  const image = await buildBusyboxImage(d);
  // The user talks to this lab's engine (in the test's namespace only): its socket and client folder opened to it.
  const socket = d.host.replace(/^unix:\/\//, '');
  await chmod(dirname(socket), 0o711);
  await chmod(socket, 0o666);
  if (d.env['DOCKER_CONFIG']) await chmod(d.env['DOCKER_CONFIG'], 0o755).catch(() => undefined);
  // `node` on PATH is a link to this Node while Node is allowed, then a program that fails loudly.
  await symlink(process.execPath, join(l.bin, 'node'));
  const env = { DOCKER_HOST: d.env['DOCKER_HOST'], DOCKER_CONFIG: d.env['DOCKER_CONFIG'] };
  const probe = ['--rm', image, 'sh', '-c', 'grep -cE "\\s(local_host|local|host\\.docker\\.internal)$" /etc/hosts; exit 3'];
  const first = await hostaliasRun(l, probe, { env });
  assert.equal(first.code, 3, first.stderr);
  assert.match(first.stdout, /^3$/m);
  await settle(d.host.replace(/^unix:\/\//, ''));
  const noNode = join(l.root, 'no-node');
  await writeFile(noNode, '#!/bin/sh\necho "node was started" >&2\nexit 99\n');
  await chmod(noNode, 0o755);
  await rename(noNode, join(l.bin, 'node'));
  const cached = await hostaliasRun(l, probe, { env });
  assert.doesNotMatch(cached.stderr, /node was started/);
  assert.equal(cached.code, 3, cached.stderr);
  assert.match(cached.stdout, /^3$/m, 'the container resolves the three names');
  await d.restart();
  const restarted = await hostaliasRun(l, probe, { env });
  assert.match(restarted.stderr, /node was started/, 'the engine restarted: the launcher asks Node (negative control)');
});
