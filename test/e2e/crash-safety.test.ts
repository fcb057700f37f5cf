/**
 * Crash safety against the real kernel, each test in its own namespace with
 * --files-root on a fresh folder: `up` SIGKILLed right after each journaled step, a full disk
 * (a small tmpfs) failing each step in turn, state.json deleted after `up`. After each, `down`
 * must leave nothing of hostalias's: no alias, no nft table, no unit, no hosts block, no file but
 * the journal — and /etc/hosts (Latin-1, mode 0600, owned by nobody) byte- and metadata-identical.
 */
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { join } from 'node:path';
import { test } from 'node:test';
import { execArgv, sleep } from '../lab/exec.js';
import { cliPath, runCli, withNetns, type Netns } from '../lab/netns.js';
import { loAddrs, tempRoot, cliFix, literal } from '../support/e2e.js';
import { privateTmpfs } from '../lab/private-tmpfs.js';

const UP = ['up', '--persist', 'systemd', '--hosts-file'];
/** No Docker in these tests: a socket that cannot exist keeps the CLI from asking an engine outside the lab. */
const LAB_ENV = { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-crash/docker.sock' };
const JOURNAL = 'var/lib/hostalias/journal.log';
// A Latin-1 é (0xE9): not UTF-8, so any decode/encode round trip that isn't byte-exact shows.
const HOSTS = Buffer.from('127.0.0.1\tlocalhost caf\xe9\n::1\tlocalhost ip6-localhost\n', 'latin1');

/** A fresh --files-root with /etc/hosts as Latin-1, mode 0600, owned by nobody. */
async function prepareRoot(root: string): Promise<void> {
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/hosts'), HOSTS, { mode: 0o600 });
  await chown(join(root, 'etc/hosts'), 65534, 65534);
}

async function filesUnder(root: string, dir = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(join(root, dir)).catch(() => [] as string[])) {
    const rel = dir === '' ? name : `${dir}/${name}`;
    const st = await lstat(join(root, rel));
    if (st.isDirectory()) out.push(...(await filesUnder(root, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function routeLocalnet(ns: Netns): Promise<string> {
  return (await ns.exec(['sysctl', '-n', 'net.ipv4.conf.all.route_localnet'])).stdout.trim();
}

/** Nothing of hostalias is left in the namespace or under root but the journal; /etc/hosts (and `more` files) as prepared. */
async function assertClean(ns: Netns, root: string, localnet: string, what: string, more: Record<string, string> = {}): Promise<void> {
  assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo'], `${what}: alias left on lo`);
  const tables = (await ns.exec(['nft', 'list', 'tables'])).stdout;
  assert.doesNotMatch(tables, /hostalias/, `${what}: nft table left`);
  assert.equal(await routeLocalnet(ns), localnet, `${what}: route_localnet not restored`);
  assert.deepEqual(
    (await filesUnder(root)).filter((f) => f !== JOURNAL && f !== 'filler'),
    ['etc/hosts', ...Object.keys(more)].sort(),
    `${what}: files left`,
  );
  for (const [file, text] of Object.entries(more)) assert.equal(await readFile(join(root, file), 'utf8'), text, `${what}: ${file}`);
  assert.deepEqual(await readFile(join(root, 'etc/hosts')), HOSTS, `${what}: /etc/hosts bytes`);
  const st = await stat(join(root, 'etc/hosts'));
  assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o600, 65534, 65534], `${what}: /etc/hosts mode/owner`);
}

function doneLines(text: string): number {
  return text.split('\n').filter((l) => / up: done /.test(l)).length;
}

/**
 * Starts `up` and SIGKILLs it as soon as the journal shows `k` done steps (inotify on the journal,
 * with a 2 ms poll as a fallback). Returns how many steps were done when the kill landed.
 */
async function upKilledAfter(ns: Netns, root: string, k: number, args: readonly string[] = UP): Promise<number> {
  const journal = join(root, JOURNAL);
  await mkdir(join(root, 'var/lib/hostalias'), { recursive: true });
  await writeFile(journal, '', { flag: 'a', mode: 0o600 });
  const base = doneLines(await readFile(journal, 'utf8'));
  const child = ns.spawn([process.execPath, cliPath(), ...args, '--files-root', root]);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let killed = false;
  const check = async () => {
    if (killed) return;
    if (doneLines(await readFile(journal, 'utf8').catch(() => '')) - base >= k) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  const watcher = watch(journal, () => void check());
  const deadline = Date.now() + 60_000;
  let finished = false;
  void exited.then(() => (finished = true));
  while (!killed && !finished && Date.now() < deadline) {
    await check();
    await sleep(2);
  }
  watcher.close();
  await exited;
  return doneLines(await readFile(journal, 'utf8')) - base;
}

/**
 * Runs the CLI with `args` and SIGKILLs it as it starts to write journal line `n` (line 1 is a
 * change's `begin`, then one line per step once the step is done): everything before that write
 * happened, the step that line reports included, and nothing after it. strace delivers the signal
 * at that write (`-P` counts only writes to the journal), so the kill lands at the same point on
 * every run, not when a watcher happens to notice. UV_THREADPOOL_SIZE=1 puts every file write on
 * one thread, which strace counts as one tracee. Returns the journal lines the run wrote (n - 1
 * when it was killed there) and its exit status.
 */
async function killedAtJournalLine(
  ns: Netns,
  root: string,
  n: number,
  args: readonly string[],
  env: NodeJS.ProcessEnv = LAB_ENV,
): Promise<{ lines: number; code: number }> {
  const journal = join(root, JOURNAL);
  await mkdir(join(root, 'var/lib/hostalias'), { recursive: true });
  await writeFile(journal, '', { flag: 'a', mode: 0o600 });
  const base = (await readFile(journal, 'utf8')).split('\n').length;
  const r = await ns.exec(
    [
      'strace',
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-P',
      journal,
      '-e',
      'trace=write',
      '-e',
      `inject=write:signal=SIGKILL:when=${n}`,
      process.execPath,
      cliPath(),
      ...args,
      '--files-root',
      root,
    ],
    { env: { ...env, UV_THREADPOOL_SIZE: '1' }, allowFail: true, timeoutMs: 120_000 },
  );
  return { lines: (await readFile(journal, 'utf8')).split('\n').length - base, code: r.code };
}

/** The lines a complete run of `args` writes to the journal. */
async function journalLines(ns: Netns, root: string, args: readonly string[], env: NodeJS.ProcessEnv = LAB_ENV): Promise<number> {
  const before = await readFile(join(root, JOURNAL), 'utf8').catch(() => '');
  const r = await runCli(ns, [...args, '--files-root', root], { env });
  assert.equal(r.code, 0, r.stderr);
  return (await readFile(join(root, JOURNAL), 'utf8')).split('\n').length - before.split('\n').length;
}

test('up SIGKILLed right after each journaled step: down leaves nothing but the journal; a fresh up converges', { timeout: 600_000 }, async (t) => {
  const ns = await withNetns(t, 'crash');
  const localnet = await routeLocalnet(ns);
  // How many steps a complete up journals here.
  const probe = await tempRoot(t, 'crash-probe');
  await prepareRoot(probe);
  const full = await runCli(ns, [...UP, '--files-root', probe]);
  assert.equal(full.code, 0, full.stderr);
  const steps = doneLines(await readFile(join(probe, JOURNAL), 'utf8'));
  assert.ok(steps >= 6, `a full up journals ${steps} steps`);
  const gone = await runCli(ns, ['down', '--files-root', probe]);
  assert.equal(gone.code, 0, gone.stderr);
  await assertClean(ns, probe, localnet, 'complete up + down');

  const killedAt = new Set<number>();
  for (let k = 1; k <= steps; k++) {
    const root = await tempRoot(t, `crash-${k}`);
    await prepareRoot(root);
    const at = await upKilledAfter(ns, root, k);
    killedAt.add(at);
    const down = await runCli(ns, ['down', '--files-root', root]);
    assert.equal(down.code, 0, `kill after step ${at}: ${down.stderr}`);
    if (at < steps) assert.match(down.stdout, /was interrupted/, `kill after step ${at}: down says it recovers`);
    await assertClean(ns, root, localnet, `killed after step ${at}, then down`);
  }
  assert.ok(killedAt.size >= Math.ceil(steps / 2), `kills landed after steps ${[...killedAt].join(', ')} of ${steps}`);

  // A fresh up after a kill finishes the job: a second up changes nothing; down cleans up.
  for (const k of [1, Math.ceil(steps / 2)]) {
    const root = await tempRoot(t, `crash-up-${k}`);
    await prepareRoot(root);
    await upKilledAfter(ns, root, k);
    const again = await runCli(ns, [...UP, '--files-root', root]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo', '10.254.254.254/32 lo:hostalias']);
    const third = await runCli(ns, ['up', '--files-root', root, '--json']);
    assert.equal(third.code, 0, third.stderr);
    assert.equal((JSON.parse(third.stdout) as { changed: boolean }).changed, false, 'converged: nothing left to do');
    const down = await runCli(ns, ['down', '--files-root', root]);
    assert.equal(down.code, 0, down.stderr);
    await assertClean(ns, root, localnet, `killed after step ${k}, up, down`);
  }
});

const INTERFACES = 'auto lo\niface lo inet loopback\n';
const SYSTEMD_FILES = ['etc/systemd/system/hostalias.service', 'etc/systemd/system/multi-user.target.wants/hostalias.service'];
const IFUPDOWN_FILES = ['var/lib/hostalias/backups/etc_network_interfaces'];
const NETWORKD_FILE = 'etc/systemd/network/10-hostalias-lo.network';

/** Which persistence kinds have files under root (the ifupdown block counts as a file). */
async function persistedKinds(root: string): Promise<string[]> {
  const files = await filesUnder(root);
  const kinds: string[] = [];
  if (SYSTEMD_FILES.some((f) => files.includes(f))) kinds.push('systemd');
  if (IFUPDOWN_FILES.some((f) => files.includes(f)) || (await readFile(join(root, 'etc/network/interfaces'), 'utf8')).includes('hostalias'))
    kinds.push('ifupdown');
  if (files.includes(NETWORKD_FILE)) kinds.push('networkd');
  return kinds;
}

test('persistence moved by an up SIGKILLed after each step: the next up (same kind, or a third one, itself killed once) leaves only the kind it wants', {
  timeout: 600_000,
}, async (t) => {
  const ns = await withNetns(t, 'crashkind');
  const localnet = await routeLocalnet(ns);
  const prepare = async (tag: string) => {
    const root = await tempRoot(t, tag);
    await prepareRoot(root);
    await mkdir(join(root, 'etc/network'), { recursive: true });
    await writeFile(join(root, 'etc/network/interfaces'), INTERFACES);
    const first = await runCli(ns, [...UP, '--files-root', root]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await persistedKinds(root), ['systemd']);
    return root;
  };
  const MOVE = ['up', '--persist', 'ifupdown'];
  // How many steps the move journals here.
  const probe = await prepare('kind-probe');
  const base = doneLines(await readFile(join(probe, JOURNAL), 'utf8'));
  assert.equal((await runCli(ns, [...MOVE, '--files-root', probe])).code, 0);
  const steps = doneLines(await readFile(join(probe, JOURNAL), 'utf8')) - base;
  assert.ok(steps >= 3, `moving systemd → ifupdown journals ${steps} steps`);
  assert.deepEqual(await persistedKinds(probe), ['ifupdown']);

  const interrupted = new Set<number>();
  for (let k = 1; k < steps; k++) {
    // The same kind again: what the interrupted change started is finished, the old kind removed.
    const same = await prepare(`kind-same-${k}`);
    // Killed as it starts journal line k + 1 (line 1 is the change's begin), the line of step k: k steps done, k - 1 journaled.
    const killed = await killedAtJournalLine(ns, same, k + 1, MOVE);
    assert.notEqual(killed.code, 0, `the run was killed at journal line ${k + 1}`);
    const at = k;
    interrupted.add(at);
    const again = await runCli(ns, [...MOVE, '--files-root', same]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /was interrupted: this run finishes or undoes it/, `killed after step ${at} of ${steps}`);
    assert.deepEqual(await persistedKinds(same), ['ifupdown'], `killed after step ${at}, up --persist ifupdown again`);

    // A third kind, and that up killed after its first step too: the one after it leaves only networkd.
    const third = await prepare(`kind-third-${k}`);
    await upKilledAfter(ns, third, k, MOVE);
    await upKilledAfter(ns, third, 1, ['up', '--persist', 'networkd']);
    const last = await runCli(ns, ['up', '--persist', 'networkd', '--files-root', third]);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(await persistedKinds(third), ['networkd'], `killed after step ${at}, then networkd killed after 1, then up --persist networkd`);
    const settled = await runCli(ns, ['up', '--files-root', third, '--json']);
    assert.equal((JSON.parse(settled.stdout) as { changed: boolean }).changed, false, 'converged: nothing left to do');

    for (const root of [same, third]) {
      const down = await runCli(ns, ['down', '--files-root', root]);
      assert.equal(down.code, 0, down.stderr);
      await assertClean(ns, root, localnet, `killed after step ${at}, then up, then down`, { 'etc/network/interfaces': INTERFACES });
    }
  }
  assert.ok(interrupted.size >= Math.min(2, steps - 1), `kills landed after steps ${[...interrupted].join(', ')} of ${steps}`);
});

test('state.json removed after up: down removes everything and says it recovered from markers; then "already down"', async (t) => {
  const ns = await withNetns(t, 'nostate');
  const localnet = await routeLocalnet(ns);
  const root = await tempRoot(t, 'nostate');
  await prepareRoot(root);
  assert.equal((await runCli(ns, [...UP, '--files-root', root])).code, 0);
  await execArgv(['rm', join(root, 'var/lib/hostalias/state.json')]);
  const down = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(
    down.stdout,
    /state\.json is missing: recovered from hostalias's markers, removing .*hostalias\.service.*10\.254\.254\.254\/32 on lo labelled lo:hostalias.*the hostalias block in \/etc\/hosts/,
  );
  await assertClean(ns, root, localnet, 'state removed, down');
  const again = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already down/);

  // A damaged state.json: up refuses with the way forward; down recovers the same way.
  assert.equal((await runCli(ns, [...UP, '--files-root', root])).code, 0);
  await writeFile(join(root, 'var/lib/hostalias/state.json'), '{"version":1,"desired":{"names":["ok\\n1.2.3.4 evil"]}}');
  const refused = await runCli(ns, ['up', '--files-root', root]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /state\.json is unreadable \(desired\.names\.0: not an allowed host name\); nothing was changed/);
  assert.match(refused.stderr, new RegExp(`fix: ${literal(cliFix(`down --files-root ${root}`))} removes everything hostalias installed`));
  const recovered = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.match(recovered.stdout, /state\.json is unreadable: recovered from hostalias's markers/);
  await assertClean(ns, root, localnet, 'damaged state, down');
});

/** Runs `fn` on a fresh folder with a 2 MiB tmpfs mounted on it; unmounts and removes it after, also on failure. */
async function withSmallTmpfs(tag: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(`${LAB_TMP_PREFIX}${tag}-`);
  try {
    await execArgv(['mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', dir]);
    await fn(dir);
  } finally {
    await execArgv(['umount', dir], { allowFail: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fills the file system at `dir` to the last byte, then frees `pages` pages. */
async function leaveFree(dir: string, pages: number): Promise<void> {
  const filler = join(dir, 'filler');
  await execArgv(['dd', 'if=/dev/zero', `of=${filler}`, 'bs=4096'], { allowFail: true });
  const size = (await stat(filler)).size;
  await execArgv(['truncate', '-s', String(Math.max(0, size - pages * 4096)), filler]);
}

test('a full disk fails each step in turn: up exits 1 naming ENOSPC and rolls back; down leaves nothing', { timeout: 600_000 }, async (t) => {
  const ns = await withNetns(t, 'enospc');
  const localnet = await routeLocalnet(ns);
  let succeeded = false;
  const failedAt = new Set<string>();
  for (let pages = 0; pages <= 24 && !succeeded; pages++) {
    await withSmallTmpfs(`enospc-${pages}`, async (root) => {
      await prepareRoot(root);
      await leaveFree(root, pages);
      const up = await runCli(ns, [...UP, '--files-root', root]);
      if (up.code === 0) {
        succeeded = true;
      } else {
        assert.equal(up.code, 1, up.stderr);
        assert.match(up.stderr, /ENOSPC|no space left/i);
        assert.doesNotMatch(up.stderr, /unexpected error/);
        failedAt.add(/hostalias: ([^:]+)/.exec(up.stderr)?.[1] ?? up.stderr);
        assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo'], `${pages} pages free: rolled back`);
      }
      await execArgv(['rm', '-f', join(root, 'filler')]);
      const down = await runCli(ns, ['down', '--files-root', root]);
      assert.equal(down.code, 0, `${pages} pages free: ${down.stderr}`);
      await assertClean(ns, root, localnet, `${pages} pages free`);
    });
  }
  assert.ok(succeeded, 'with enough space up succeeds');
  assert.ok(failedAt.size >= 2, `failures at different steps: ${[...failedAt].join(' | ')}`);
});

test('unexpose of the last port SIGKILLed after each journal line: down restores route_localnet and leaves nothing', { timeout: 600_000 }, async (t) => {
  const ns = await withNetns(t, 'crashunexp');
  const localnet = await routeLocalnet(ns);
  const prepare = async (tag: string) => {
    const root = await tempRoot(t, tag);
    await prepareRoot(root);
    for (const args of [UP, ['expose', '5432', '--via', 'kernel']]) {
      const r = await runCli(ns, [...args, '--files-root', root], { env: LAB_ENV });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await routeLocalnet(ns), '1', 'expose turned route_localnet on');
    return root;
  };
  const UNEXPOSE = ['unexpose', '5432'];
  const probe = await prepare('unexp-probe');
  const lines = await journalLines(ns, probe, UNEXPOSE);
  assert.ok(lines >= 4, `unexpose journals ${lines} lines`);
  assert.equal(await routeLocalnet(ns), localnet, 'a complete unexpose restores route_localnet');
  assert.equal((await runCli(ns, ['down', '--files-root', probe], { env: LAB_ENV })).code, 0);
  await assertClean(ns, probe, localnet, 'unexpose, then down');
  for (let n = 2; n <= lines; n++) {
    const root = await prepare(`unexp-${n}`);
    const killed = await killedAtJournalLine(ns, root, n, UNEXPOSE);
    assert.deepEqual(killed, { lines: n - 1, code: 137 }, `unexpose killed as it journals line ${n}`);
    const down = await runCli(ns, ['down', '--files-root', root], { env: LAB_ENV });
    assert.equal(down.code, 0, `killed at line ${n}: ${down.stderr}`);
    assert.match(down.stdout, /was interrupted/);
    await assertClean(ns, root, localnet, `unexpose killed at journal line ${n}, then down`);
  }
});

const DAEMON = 'etc/docker/daemon.json';
/** daemon.json before hostalias: a file of the user's (restored byte for byte), or none (removed again). */
const DAEMON_BEFORE: Record<string, string | null> = { 'a file of the user': '{\n\t"log-level": "warn"\n}\n', 'no file': null };

async function writeDaemonJson(root: string, text: string | null): Promise<Record<string, string>> {
  if (text === null) return {};
  await mkdir(join(root, 'etc/docker'), { recursive: true });
  await writeFile(join(root, DAEMON), text);
  return { [DAEMON]: text };
}

test('up --ip with --docker-daemon SIGKILLed at each journal line: down restores daemon.json and removes its backup', { timeout: 600_000 }, async (t) => {
  const ns = await withNetns(t, 'crashdaemon');
  const localnet = await routeLocalnet(ns);
  const MOVE = ['up', '--ip', '10.254.254.1'];
  for (const [name, before] of Object.entries(DAEMON_BEFORE)) {
    const prepare = async (tag: string) => {
      const root = await tempRoot(t, tag);
      await prepareRoot(root);
      const more = await writeDaemonJson(root, before);
      const up = await runCli(ns, [...UP, '--docker-daemon', '--files-root', root], { env: LAB_ENV });
      assert.equal(up.code, 0, up.stderr);
      assert.match(await readFile(join(root, DAEMON), 'utf8'), /"host-gateway-ips?": "?\[?\s*"?10\.254\.254\.254/);
      return { root, more };
    };
    const probe = await prepare(`daemon-probe-${before === null ? 'none' : 'file'}`);
    const lines = await journalLines(ns, probe.root, MOVE);
    assert.match(await readFile(join(probe.root, DAEMON), 'utf8'), /10\.254\.254\.1\b/);
    assert.equal((await runCli(ns, ['down', '--files-root', probe.root], { env: LAB_ENV })).code, 0);
    await assertClean(ns, probe.root, localnet, `${name}: move, then down`, probe.more);
    for (let n = 2; n <= lines; n++) {
      const { root, more } = await prepare(`daemon-${before === null ? 'none' : 'file'}-${n}`);
      const killed = await killedAtJournalLine(ns, root, n, MOVE);
      assert.deepEqual(killed, { lines: n - 1, code: 137 }, `${name}: the move killed as it journals line ${n}`);
      const down = await runCli(ns, ['down', '--files-root', root], { env: LAB_ENV });
      assert.equal(down.code, 0, `${name}, killed at line ${n}: ${down.stderr}`);
      await assertClean(ns, root, localnet, `${name}: the move killed at journal line ${n}, then down`, more);
    }
  }
});

test('state.json lost after up --docker-daemon: a plain up, then down, leaves nothing (daemon.json as before, no old alias)', async (t) => {
  const ns = await withNetns(t, 'lostdaemon');
  const localnet = await routeLocalnet(ns);
  for (const [name, before] of Object.entries(DAEMON_BEFORE)) {
    for (const next of [UP, [...UP, '--ip', '10.254.254.1'], [...UP, '--docker-daemon']]) {
      const root = await tempRoot(t, `lostdaemon-${before === null ? 'none' : 'file'}`);
      await prepareRoot(root);
      const more = await writeDaemonJson(root, before);
      const first = await runCli(ns, [...UP, '--docker-daemon', '--files-root', root], { env: LAB_ENV });
      assert.equal(first.code, 0, first.stderr);
      await rm(join(root, 'var/lib/hostalias/state.json'));
      const what = `${name}, state.json lost, then ${next.join(' ')}`;
      const up = await runCli(ns, [...next, '--files-root', root], { env: LAB_ENV });
      assert.equal(up.code, 0, `${what}: ${up.stderr}`);
      const down = await runCli(ns, ['down', '--files-root', root], { env: LAB_ENV });
      assert.equal(down.code, 0, `${what}, down: ${down.stderr}`);
      await assertClean(ns, root, localnet, `${what}, then down`, more);
    }
  }
});

test('down on a full disk (a tmpfs in a private mount namespace): it removes everything, warning that it kept no record', async (t) => {
  const ns = await withNetns(t, 'fulldown');
  const localnet = await routeLocalnet(ns);
  const disk = await privateTmpfs(t, ns, { size: '2m' });
  const cli = (args: readonly string[]) =>
    execArgv(disk.argv([process.execPath, cliPath(), ...args, '--files-root', disk.dir]), { env: LAB_ENV, allowFail: true, timeoutMs: 60_000 });
  await prepareRoot(disk.view);
  const up = await cli(UP);
  assert.equal(up.code, 0, up.stderr);
  const exposed = await cli(['expose', '5432', '--via', 'kernel']);
  assert.equal(exposed.code, 0, exposed.stderr);
  // Every block taken: not even a one-byte file fits.
  await execArgv(disk.argv(['dd', 'if=/dev/zero', `of=${disk.dir}/filler`, 'bs=4096']), { allowFail: true });
  const probe = await execArgv(disk.argv(['sh', '-c', 'echo x > "$0/probe"; r=$?; rm -f "$0/probe"; exit $r', disk.dir]), { allowFail: true });
  assert.notEqual(probe.code, 0, 'the disk is full');
  const refused = await cli(['up', '--ip', '10.254.254.1']);
  assert.equal(refused.code, 1, 'a change that adds needs space: refused');
  assert.match(refused.stderr, /no space left on device.*nothing was changed/i);
  const down = await cli(['down']);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr + down.stdout, /intent\.json could not be written \(no space left\); going on without it/);
  await assertClean(ns, disk.view, localnet, 'down on a full disk');
});

test('no free inode left: up and down exit 1 naming the cause and the fix; once inodes are freed, down removes everything', async (t) => {
  const ns = await withNetns(t, 'noinode');
  const localnet = await routeLocalnet(ns);
  const disk = await privateTmpfs(t, ns, { size: '8m', inodes: 64 });
  const cli = (args: readonly string[]) =>
    execArgv(disk.argv([process.execPath, cliPath(), ...args, '--files-root', disk.dir]), { env: LAB_ENV, allowFail: true, timeoutMs: 60_000 });
  await prepareRoot(disk.view);
  const up = await cli(UP);
  assert.equal(up.code, 0, up.stderr);
  // Every inode taken.
  await execArgv(disk.argv(['sh', '-c', `mkdir ${disk.dir}/fill && i=0; while : > ${disk.dir}/fill/$i 2>/dev/null; do i=$((i+1)); done`]), { allowFail: true });
  for (const args of [['up', '--ip', '10.254.254.1'], ['down']]) {
    const r = await cli(args);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /unexpected error/);
    assert.match(
      r.stderr,
      /taking the lock .*\/var\/lib\/hostalias\/lock: its file system has no free inode \(or space\) left \(ENOSPC\); nothing was changed/,
    );
    assert.match(r.stderr, /fix: free inodes or space on the file system of .*\/var\/lib\/hostalias \(`df -i /);
  }
  assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo', '10.254.254.254/32 lo:hostalias'], 'nothing was changed');
  await rm(join(disk.view, 'fill'), { recursive: true });
  const down = await cli(['down']);
  assert.equal(down.code, 0, down.stderr);
  await assertClean(ns, disk.view, localnet, 'inodes freed, down');
});
