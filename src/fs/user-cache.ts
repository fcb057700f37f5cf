import { lstat, mkdir, open, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { posixCksum } from '../model/cksum.js';
import { readLiveLink, replaceFile } from './system-fs.js';

/** What a path of the running system is now, as a cache must remember it. */
export interface PathFacts {
  path: string;
  present: boolean;
  /** The link's text when the path itself is a symbolic link. */
  link: string | null;
  /** For a regular file (through its links): what `cksum` prints of it, its POSIX checksum and size. */
  sum: { crc: number; size: number } | null;
}

/** Files of a cache's basis are small (state.json, docker's config); past this, no checksum is kept. */
const MAX_SUMMED = 1 << 20;

/**
 * Whether `path` exists (following links), where it links to and, for a regular file, its
 * checksum (read through one descriptor). Read-only; never throws.
 */
export async function pathFacts(path: string): Promise<PathFacts> {
  const [link, st] = await Promise.all([readLiveLink(path), stat(path).catch(() => null)]);
  return { path, present: st !== null, link, sum: st?.isFile() ? await checksum(path) : null };
}

async function checksum(path: string): Promise<{ crc: number; size: number } | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > MAX_SUMMED) return null;
    const bytes = await handle.readFile();
    return { crc: posixCksum(bytes), size: bytes.length };
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/**
 * Whether this process may keep a cache at `path`: the nearest folder of it that exists is this
 * user's own. Under `sudo` with the user's HOME kept, root would otherwise leave root-owned
 * files in the user's home that the user can't remove.
 */
async function ownedByMe(path: string): Promise<boolean> {
  const me = process.geteuid?.();
  if (me === undefined) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = await stat(dir).catch(() => null);
    if (st) return st.uid === me && st.isDirectory();
    if (dirname(dir) === dir) return false;
  }
}

/**
 * Writes a cache file of the user's own (`hostalias run`'s, in ~/.cache): a fresh file created
 * O_EXCL|O_NOFOLLOW with mode 0600 and renamed into place, so a reader sees the old file or the
 * whole new one. Its modification time is set to `mtimeMs`: a reader compares it with the
 * times of the files the cache depends on. No fsync: a lost cache costs one slow run. Returns
 * false, writing nothing, where the folder isn't this user's, and always for root: the launcher
 * never runs a cache as root (it would be root running what a file in a folder of the user's
 * says), so root has none to keep — and writes nothing in a user's home.
 */
export async function writeUserCache(path: string, text: string, mtimeMs: number): Promise<boolean> {
  if (process.geteuid?.() === 0 || !(await ownedByMe(path))) return false;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const at = new Date(mtimeMs);
  await replaceFile(
    path,
    0o600,
    async (handle) => {
      await handle.writeFile(text);
      await handle.utimes(at, at);
    },
    { durable: false },
  );
  return true;
}

/** Removes a cache file of this user's ("already gone" is success; another user's is left; root touches none). */
export async function removeUserCache(path: string): Promise<void> {
  if (process.geteuid?.() === 0) return;
  const st = await lstat(path).catch(() => null);
  if (st && st.uid === process.geteuid?.()) await rm(path, { force: true });
}

/**
 * Removes a folder of this user's own that hostalias keeps files in (~/.cache/hostalias, the
 * state folder): every file and link in it this user owns (links themselves, never what they
 * point to), then the folder when nothing else is left. Only for a folder this user owns, which is
 * no link; folders inside and another user's files are left, and the answer says so. Never run
 * as root on a user's home: the caller removes its own folders as itself.
 */
export async function removeOwnFolder(dir: string): Promise<'removed' | 'absent' | 'kept'> {
  const me = process.geteuid?.();
  const st = await lstat(dir).catch(() => null);
  if (st === null) return 'absent';
  if (!st.isDirectory() || st.uid !== me) return 'kept';
  for (const name of await readdir(dir)) {
    const entry = await lstat(join(dir, name)).catch(() => null);
    if (entry && !entry.isDirectory() && entry.uid === me) await rm(join(dir, name), { force: true });
  }
  return rmdir(dir).then(
    () => 'removed' as const,
    () => 'kept' as const,
  );
}
