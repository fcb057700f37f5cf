/**
 * The state lock under contention: many processes racing for a lock whose holder died
 * take it one at a time — never two inside at once — and nothing is left next to it. The same
 * race with a naive check-then-remove takeover shows the harness catches two holders.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lutimes, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdLock } from '../../src/fs/lock.js';

const CHILD = fileURLToPath(new URL('../support/lock-race-child.js', import.meta.url));

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.on('exit', r));
  return child.pid ?? 0;
}

/** Plants a lock as hostalias writes one (a symlink naming its holder); returns its nonce. */
async function plant(path: string, pid: number, host = hostname()): Promise<string> {
  const nonce = randomBytes(12).toString('hex');
  await symlink(`${pid}.${nonce}@${host}`, path);
  return nonce;
}

async function scratch(t: TestContext): Promise<{ lockDir: string; work: string }> {
  const base = await mkdtemp(join(tmpdir(), 'hostalias-lockrace-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const lockDir = join(base, 'locks');
  const work = join(base, 'work');
  await mkdir(lockDir);
  await mkdir(work);
  return { lockDir, work };
}

interface Reply {
  ready?: boolean;
  entered?: boolean;
  overlap?: boolean;
  error?: string;
}

const next = (child: ChildProcess) => new Promise<Reply>((resolve) => child.once('message', (m: Reply) => resolve(m)));

/** `workers` processes go for a freshly orphaned lock `rounds` times; the counts of who got in and overlapped. */
async function race(t: TestContext, impl: 'hostalias' | 'naive', rounds: number, workers: number) {
  const { lockDir, work } = await scratch(t);
  const lockPath = join(lockDir, 'lock');
  const counter = join(work, 'counter');
  await writeFile(counter, '0');
  const children = Array.from({ length: workers }, () => fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  await Promise.all(children.map(next));
  let entries = 0;
  let overlaps = 0;
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    await plant(lockPath, await deadPid());
    const replies = await Promise.all(
      children.map((c) => {
        const reply = next(c);
        c.send({ lockPath, counter, inside: join(work, 'inside'), impl });
        return reply;
      }),
    );
    for (const rep of replies) assert.equal(rep.error, undefined, rep.error);
    const got = replies.filter((rep) => rep.entered).length;
    perRound.push(got);
    entries += got;
    overlaps += replies.filter((rep) => rep.overlap).length;
    await rm(lockPath, { force: true }); // the naive control may leave one; hostalias's is gone already
  }
  return { entries, overlaps, perRound, counter: Number(await readFile(counter, 'utf8')), left: await readdir(lockDir) };
}

test("12 processes racing for a dead holder's lock, 15 times: one inside at a time, every round someone gets in, nothing left", {
  timeout: 120_000,
}, async (t) => {
  const r = await race(t, 'hostalias', 15, 12);
  t.diagnostic(`entries per round: ${r.perRound.join(' ')}`);
  assert.equal(r.overlaps, 0, 'never two holders at once');
  assert.equal(r.counter, r.entries, 'every read-modify-write of the counter survived: the sections never interleaved');
  assert.ok(
    r.perRound.every((n) => n >= 1),
    `the dead holder's lock was taken over every round (${r.perRound.join(' ')})`,
  );
  assert.deepEqual(r.left, [], 'no lock, guard or temp file left');
});

test('negative control: the same race with a check-then-remove takeover lets two processes in', { timeout: 120_000 }, async (t) => {
  const r = await race(t, 'naive', 15, 12);
  t.diagnostic(`naive: ${r.overlaps} overlapping entries, counter ${r.counter} of ${r.entries} entries`);
  assert.ok(r.overlaps > 0 || r.counter < r.entries, 'the harness sees two holders when the takeover is racy');
});

const busy = (pid: number | null) => Object.assign(new Error(`busy ${pid}`), { code: 'locked' });

test('takers that died holding the takeover guard (twice over) are taken over too; their guards are swept', async (t) => {
  const { lockDir } = await scratch(t);
  const lockPath = join(lockDir, 'lock');
  const nonce = await plant(lockPath, await deadPid());
  const guard = await plant(`${lockPath}.takeover-${nonce}`, await deadPid());
  await plant(`${lockPath}.takeover-${nonce}.takeover-${guard}`, await deadPid()); // and the taker of that guard died too
  await plant(`${lockPath}.takeover-0123abcd`, await deadPid()); // a guard for a lock long gone
  assert.deepEqual(await holdLock(lockPath, busy, async () => (await readdir(lockDir)).sort()), ['lock'], 'inside: only the lock');
  assert.deepEqual(await readdir(lockDir), [], 'released');
});

test('a live holder blocks (its pid named); on another host, a lock is dead once its mtime is 30 s old', async (t) => {
  const { lockDir } = await scratch(t);
  const lockPath = join(lockDir, 'lock');
  const sleeper = spawn('sleep', ['30']);
  t.after(() => sleeper.kill('SIGKILL'));
  await plant(lockPath, sleeper.pid ?? 0);
  await assert.rejects(
    holdLock(lockPath, busy, async () => 'ran'),
    new RegExp(`busy ${sleeper.pid}`),
  );
  await rm(lockPath);
  await plant(lockPath, await deadPid(), 'another-host.example');
  await assert.rejects(
    holdLock(lockPath, busy, async () => 'ran'),
    /busy/,
    'fresh, from another host: its pid means nothing here',
  );
  const old = new Date(Date.now() - 60_000);
  await lutimes(lockPath, old, old);
  assert.equal(await holdLock(lockPath, busy, async () => 'ran'), 'ran', 'stale: taken');
  // A folder lock of an older hostalias: held while fresh, taken once stale or its pid is dead.
  await mkdir(lockPath);
  await assert.rejects(
    holdLock(lockPath, busy, async () => 'ran'),
    /busy null/,
  );
  await utimes(lockPath, old, old);
  assert.equal(await holdLock(lockPath, busy, async () => 'ran'), 'ran');
  assert.deepEqual(await readdir(lockDir), []);
});

/** The start time /proc gives process `pid` (field 22 of /proc/PID/stat). */
async function startOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

test('a lock naming a live pid that is another process now (a reused pid) is taken over, whatever its age', async (t) => {
  const { lockDir } = await scratch(t);
  const lockPath = join(lockDir, 'lock');
  const sleeper = spawn('sleep', ['60']);
  t.after(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid ?? 0;
  const start = await startOf(pid);
  // The holder itself (same pid, same start time): busy, even two hours on (it may be stopped, not dead).
  await symlink(`${pid}.0123456789abcdef.${start}@${hostname()}`, lockPath);
  const twoHours = new Date(Date.now() - 2 * 3600_000);
  await lutimes(lockPath, twoHours, twoHours);
  await assert.rejects(
    holdLock(lockPath, busy, async () => 'ran'),
    new RegExp(`busy ${pid}`),
  );
  // The same pid with another start time: the holder died and the pid went to `sleep`.
  await rm(lockPath);
  await symlink(`${pid}.0123456789abcdef.${Number(start) - 1}@${hostname()}`, lockPath);
  assert.equal(await holdLock(lockPath, busy, async () => 'ran'), 'ran', 'a fresh lock of a reused pid');
  // A lock of an older hostalias names no start time: a live pid counts until the lock was not
  // refreshed (every 10 s while held) for 15 minutes.
  await plant(lockPath, pid);
  await assert.rejects(
    holdLock(lockPath, busy, async () => 'ran'),
    new RegExp(`busy ${pid}`),
    'fresh: busy',
  );
  await lutimes(lockPath, twoHours, twoHours);
  assert.equal(await holdLock(lockPath, busy, async () => 'ran'), 'ran', 'two hours without a refresh: taken over');
  assert.deepEqual(await readdir(lockDir), []);
});

test('the lock names its holder with its start time, in a target short enough for an inline symlink', async (t) => {
  const { lockDir } = await scratch(t);
  const lockPath = join(lockDir, 'lock');
  const target = await holdLock(lockPath, busy, async () => readlink(lockPath));
  assert.equal(target, `${process.pid}.${/\.([0-9a-f]{16})\./.exec(target)?.[1]}.${await startOf(process.pid)}@${hostname()}`);
  assert.ok(
    target.length - hostname().length <= 40,
    `${target}: at most 40 bytes besides the host name (ext4 keeps a target of up to 59 bytes in the inode, no data block)`,
  );
});
