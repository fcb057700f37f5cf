import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { HostaliasError } from '../model/errors.js';
import type { SystemFs } from '../fs/system-fs.js';
import { STATE_DIR } from '../model/state.js';

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

/** Holds the state lock while `fn` runs, so two runs never interleave their changes. */
export async function withLock<T>(fs: SystemFs, fn: () => Promise<T>): Promise<T> {
  await fs.ensureDir(STATE_DIR);
  const dir = fs.resolve(STATE_DIR);
  const lockPath = `${dir}/lock`;
  const take = () => lockfile.lock(dir, { lockfilePath: lockPath, realpath: false, stale: 30_000, retries: { retries: 5, minTimeout: 100, maxTimeout: 500 } });
  let release: () => Promise<void>;
  try {
    release = await take().catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'ELOCKED' && (await breakDeadLock(lockPath))) return take();
      throw err;
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      const pid = await holderPid(lockPath);
      const who = pid === null ? '' : ` (pid ${pid})`;
      throw new HostaliasError('locked', `another hostalias run${who} is changing this system (it holds ${lockPath})`, `wait for it to finish; if no hostalias is running, remove ${lockPath}`);
    }
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
