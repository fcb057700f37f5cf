import { HostaliasError } from '../model/errors.js';
import type { Files } from '../model/files.js';
import { holdLock } from '../fs/lock.js';
import { STATE_DIR } from '../model/state.js';
import { dirname } from 'node:path';

const busy = (lockPath: string, what: string) => (pid: number | null) =>
  new HostaliasError(
    'locked',
    `another hostalias run${pid === null ? '' : ` (pid ${pid})`} is changing ${what} (it holds ${lockPath})`,
    `wait for it to finish; if no hostalias is running, remove ${lockPath}`,
  );

/**
 * The lock is a symlink: one new inode, no data block (src/fs/lock.ts). It can't be made when the
 * file system has no free inode left (or, for a long host name, no block), and then nothing can
 * be changed there: say so, with the fix, instead of an unexpected error.
 */
function explainLockError(err: unknown, lockPath: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  const dir = dirname(lockPath);
  return new HostaliasError(
    'failed',
    `taking the lock ${lockPath}: its file system has no free inode (or space) left (${code}); nothing was changed`,
    `free inodes or space on the file system of ${dir} (\`df -i ${dir}\` and \`df -h ${dir}\` show which ran out), then run it again`,
    { cause: err },
  );
}

/** Holds the state lock while `fn` runs, so two runs never interleave their changes. */
export async function withLock<T>(fs: Files, fn: () => Promise<T>): Promise<T> {
  let lockPath = `${fs.resolve(STATE_DIR)}/lock`;
  let inside = false;
  try {
    await fs.ensureDir(STATE_DIR);
    lockPath = `${await fs.real(STATE_DIR)}/lock`;
    return await holdLock(lockPath, busy(lockPath, 'this system'), () => {
      inside = true;
      return fn();
    });
  } catch (err) {
    throw inside ? err : explainLockError(err, lockPath);
  }
}

/**
 * Holds a lock next to a user's file (`FILE.lock`) while `fn` runs, so two runs never write it at
 * once. Needs no root: only write access to the file's folder, which writing the file needs anyway.
 */
export async function withFileLock<T>(abs: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = `${abs}.lock`;
  return holdLock(lockPath, busy(lockPath, abs), fn);
}
