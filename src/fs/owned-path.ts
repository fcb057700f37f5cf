import { lstat, realpath } from 'node:fs/promises';
import { posix } from 'node:path';

/** A folder on the way to a path that someone other than root can change. */
export interface ForeignFolder {
  dir: string;
  uid: number;
  /** Why: owned by that user, or writable by group or others without the sticky bit. */
  why: 'owner' | 'writable';
}

const MAX_LINKS = 40;

/**
 * The first folder on the way to `path` that someone other than root could change, so a root
 * write there could be redirected (a folder swapped for a link) or would leave a root-owned file
 * in another user's folder: one owned by another user, or writable by group or others without the
 * sticky bit. The path is checked as given and, through each symbolic link on it, as it resolves.
 * Folders that don't exist yet are root's to create. null: only root can change the way to it.
 * Read-only; for a process running as root (a user's own writes need no such check: the kernel
 * holds them to the user's rights).
 */
export async function foreignFolderOnWay(path: string): Promise<ForeignFolder | null> {
  return walk(posix.dirname(posix.resolve(path)), 0);
}

async function walk(dir: string, links: number): Promise<ForeignFolder | null> {
  const parts = dir.split('/').filter((p) => p !== '');
  let current = '/';
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) current = posix.join(current, parts[i - 1] as string);
    const st = await lstat(current).catch(() => null);
    if (st === null) return null;
    if (st.uid !== 0) return { dir: current, uid: st.uid, why: 'owner' };
    if (st.isSymbolicLink()) {
      if (links >= MAX_LINKS) return { dir: current, uid: st.uid, why: 'writable' };
      const real = await realpath(current).catch(() => null);
      if (real === null) return null;
      return walk(posix.join(real, ...parts.slice(i)), links + 1);
    }
    if (!st.isDirectory()) return null;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) return { dir: current, uid: st.uid, why: 'writable' };
  }
  return null;
}
