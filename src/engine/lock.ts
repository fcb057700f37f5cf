import { HostaliasError } from '../model/errors.js';
import type { Files } from '../model/files.js';
import { holdLock } from '../fs/lock.js';
import { STATE_DIR } from '../model/state.js';

const busy = (lockPath: string, what: string) => (pid: number | null) =>
  new HostaliasError(
    'locked',
    `another hostalias run${pid === null ? '' : ` (pid ${pid})`} is changing ${what} (it holds ${lockPath})`,
    `wait for it to finish; if no hostalias is running, remove ${lockPath}`,
  );

/** Holds the state lock while `fn` runs, so two runs never interleave their changes. */
export async function withLock<T>(fs: Files, fn: () => Promise<T>): Promise<T> {
  await fs.ensureDir(STATE_DIR);
  const lockPath = `${fs.resolve(STATE_DIR)}/lock`;
  return holdLock(lockPath, busy(lockPath, 'this system'), fn);
}

/**
 * Holds a lock next to a user's file (`FILE.lock`) while `fn` runs, so two runs never write it at
 * once. Needs no root: only write access to the file's folder, which writing the file needs anyway.
 */
export async function withFileLock<T>(abs: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = `${abs}.lock`;
  return holdLock(lockPath, busy(lockPath, abs), fn);
}
