/**
 * A process racing for a lock (test/stress/lock-race.test.ts). On each `go` it tries once to take
 * the lock — with hostalias's holdLock, or with a naive check-then-remove takeover as the negative
 * control — and, when it gets it, runs a critical section that notices any other process inside
 * (an O_EXCL marker) and bumps a shared counter with a deliberately slow read-modify-write.
 * Both takeovers pause 0–3 ms at the same points (just after seeing the holder dead, just before
 * removing its lock), which widens the race windows without changing who can win them.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { holdLock, type LockPoint } from '../../src/fs/lock.js';

interface Go {
  lockPath: string;
  counter: string;
  inside: string;
  impl: 'hostalias' | 'naive';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pause = async (_: LockPoint): Promise<void> => {
  await sleep(Math.random() * 3);
};

async function critical(go: Go): Promise<boolean> {
  let overlap = false;
  const mine = await writeFile(go.inside, String(process.pid), { flag: 'wx' }).then(
    () => true,
    () => false,
  );
  if (!mine) overlap = true;
  const n = Number(await readFile(go.counter, 'utf8'));
  await sleep(3);
  await writeFile(go.counter, String(n + 1));
  if (mine) await unlink(go.inside);
  return overlap;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The takeover most lock code starts with: the holder is dead, so remove its lock and create ours. */
async function naiveHold(lockPath: string, fn: () => Promise<boolean>): Promise<boolean | null> {
  const token = `${process.pid}.${randomBytes(12).toString('hex')}@${hostname()}`;
  for (let i = 0; i < 6; i++) {
    try {
      await symlink(token, lockPath);
      try {
        return await fn();
      } finally {
        await rm(lockPath, { force: true });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readlink(lockPath).catch(() => '')).split('.')[0]);
    if (pid > 0 && !alive(pid)) {
      await pause('seen-dead');
      await pause('before-remove');
      await rm(lockPath, { force: true });
    } else await sleep(100 + i * 100);
  }
  return null;
}

process.on('message', (go: Go) => {
  const busy = () => Object.assign(new Error('busy'), { busy: true });
  const run = go.impl === 'hostalias' ? holdLock(go.lockPath, busy, () => critical(go), { pause }) : naiveHold(go.lockPath, () => critical(go));
  run.then(
    (overlap) => process.send?.({ entered: overlap !== null, overlap: overlap === true }),
    (err: Error & { busy?: boolean }) => process.send?.(err.busy ? { entered: false, overlap: false } : { error: String(err.stack) }),
  );
});
process.send?.({ ready: true });
