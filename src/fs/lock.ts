import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';

/** Whether a process with this pid exists (EPERM: it exists but isn't ours). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function holderPid(lockPath: string): Promise<number | null> {
  const text = await readFile(`${lockPath}/pid`, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/**
 * Removes a lock whose holder (the pid recorded inside it) is dead, at once rather than after the
 * mtime goes stale (issue 15: a SIGKILLed run blocked the next one for 30 s). The lock is first
 * renamed aside and its pid read again, so a live lock taken meanwhile is put back, not broken.
 */
async function breakDeadLock(lockPath: string): Promise<boolean> {
  const pid = await holderPid(lockPath);
  if (pid === null || isAlive(pid)) return false;
  const aside = `${lockPath}.dead-${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return false;
  }
  if ((await holderPid(aside)) !== pid) {
    await rename(aside, lockPath).catch(() => undefined);
    return false;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}

/**
 * Holds a lock on `target` (a lock directory at `lockPath`, both absolute, in a directory that
 * exists) while `fn` runs; the holder's pid is kept inside it so a dead holder's lock is taken at
 * once. When a live run holds it, `busy(pid)` makes the error to throw. Works for any user: it
 * needs only write access to the lock's directory.
 */
export async function holdLock<T>(target: string, lockPath: string, busy: (pid: number | null) => Error, fn: () => Promise<T>): Promise<T> {
  const take = () => lockfile.lock(target, { lockfilePath: lockPath, realpath: false, stale: 30_000, retries: { retries: 5, minTimeout: 100, maxTimeout: 500 } });
  let release: () => Promise<void>;
  try {
    release = await take().catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'ELOCKED' && (await breakDeadLock(lockPath))) return take();
      throw err;
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw busy(await holderPid(lockPath));
    throw err;
  }
  await writeFile(`${lockPath}/pid`, `${process.pid}\n`, { mode: 0o644, flag: 'wx' }).catch(() => undefined);
  try {
    return await fn();
  } finally {
    await rm(`${lockPath}/pid`, { force: true });
    await release().catch(() => undefined);
  }
}
