import { lstat, lutimes, readdir, readFile, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * A lock is a symlink whose target names its holder, `PID.NONCE.START@HOST` (as Emacs's `.#file`
 * locks; START is the holder's start time where /proc tells it): created whole and exclusively in
 * one call, and short enough to need no data block (an ext4 "fast" symlink, a tmpfs inline one), so
 * it can be taken on a full disk (`down` must work there). A holder that is dead is taken over at
 * once: its pid is gone on this host, or is now another process (a pid reused after a reboot or
 * wrap-around: its start time differs, or, where the lock carries none, the lock was not refreshed
 * for ABANDONED_MS although a holder refreshes it every REFRESH_MS); on another host, or
 * unreadable: its mtime is older than STALE_MS. It is taken over — but only by the one process that creates the takeover
 * guard `LOCK.takeover-NONCE` (O_EXCL, itself a lock of this kind), which re-reads the lock under
 * the guard and removes it only if it is still that dead holder's. Two processes that both saw the
 * holder dead can't both remove a lock (the second would remove the first's fresh lock),
 * and a taker that dies holding the guard is taken over the same way, one level down.
 */
const STALE_MS = 30_000;
const REFRESH_MS = 10_000;
/** A lock naming a live pid but not refreshed for this long is not that process's (see above). */
const ABANDONED_MS = 15 * 60_000;
/** Takers that died holding a guard, each guarding the last: more than this and the lock is reported busy. */
const MAX_GUARD_DEPTH = 4;
const RETRY_DELAYS_MS = [100, 200, 300, 400, 500];
const MAX_ROUNDS = 16;

interface Holder {
  /** The holder's identity: its nonce, or for a lock of an older hostalias (a folder), its inode. */
  id: string;
  pid: number | null;
  live: boolean;
  dir: boolean;
}

/** Where a lock attempt can pause (tests widen the race windows with it). */
export type LockPoint = 'seen-dead' | 'before-remove';

export interface LockHooks {
  pause?: (point: LockPoint) => Promise<void>;
}

/** Whether a process with this pid exists (EPERM: it exists but isn't ours). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const parsePid = (text: string | undefined): number | null => {
  const pid = Number.parseInt(text ?? '', 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
};

/**
 * When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or null where
 * /proc can't tell (another OS, hidepid). Read-only.
 */
async function startTime(pid: number | 'self'): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  // Fields after the command name, which is in parentheses and may hold spaces or parentheses.
  const after = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = after?.[19];
  return start && /^\d+$/.test(start) ? start : null;
}

let ownStart: Promise<string | null> | undefined;

/** Whether the holder `pid` (started at `start`, when the lock says) is alive: not gone, not a reused pid. */
async function holderAlive(pid: number, start: string | undefined, mtimeMs: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (start === undefined) return Date.now() - mtimeMs < ABANDONED_MS;
  const now = await startTime(pid);
  return now === null || now === start;
}

/** Who holds the lock at `path`, or null when there is none. Read-only. */
async function readHolder(path: string): Promise<Holder | null> {
  const st = await lstat(path).catch(() => null);
  if (st === null) return null;
  const fresh = Date.now() - st.mtimeMs < STALE_MS;
  if (st.isDirectory()) {
    // proper-lockfile's folder (hostalias's lock before this one), with the pid file it kept inside.
    const pid = parsePid(await readFile(join(path, 'pid'), 'utf8').catch(() => undefined));
    return { id: `dir${st.ino}`, pid, live: pid !== null ? isAlive(pid) : fresh, dir: true };
  }
  const m = /^(\d+)\.([0-9a-f]{1,64})(?:\.(\d+))?@(.*)$/.exec(st.isSymbolicLink() ? await readlink(path).catch(() => '') : '');
  const pid = parsePid(m?.[1]);
  if (!m?.[2] || pid === null) return { id: `ino${st.ino}`, pid: null, live: fresh, dir: false };
  return { id: m[2], pid, live: m[4] === hostname() ? await holderAlive(pid, m[3], st.mtimeMs) : fresh, dir: false };
}

interface Held {
  path: string;
  nonce: string;
}

/**
 * One attempt to take the lock at `path`: held, or the live holder. A dead holder is taken over
 * under its guard (see above); when another process holds that guard, the holder is returned as
 * if live, and the caller tries again later.
 */
async function tryTake(path: string, hooks: LockHooks, depth: number): Promise<Held | Holder> {
  const nonce = randomBytes(8).toString('hex');
  ownStart ??= startTime('self');
  const start = await ownStart;
  // Bounded: each round either takes the lock, meets a live holder, or removed a dead one.
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      await symlink(`${process.pid}.${nonce}${start === null ? '' : `.${start}`}@${hostname()}`, path);
      return { path, nonce };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(path);
    if (holder === null) continue;
    if (holder.live || depth >= MAX_GUARD_DEPTH) return holder;
    await hooks.pause?.('seen-dead');
    const guard = await tryTake(`${path}.takeover-${holder.id}`, hooks, depth + 1);
    if (!('nonce' in guard)) return holder;
    try {
      const again = await readHolder(path);
      if (again !== null && again.id === holder.id && !again.live) {
        await hooks.pause?.('before-remove');
        await rm(path, { recursive: again.dir, force: true });
      }
    } finally {
      await release(guard);
    }
  }
  return (await readHolder(path)) ?? { id: '', pid: null, live: true, dir: false };
}

/** Removes the lock if it is still ours (a lock taken over from us is someone else's now). */
async function release(held: Held): Promise<void> {
  const holder = await readHolder(held.path);
  if (holder?.id === held.nonce) await unlink(held.path).catch(() => undefined);
}

/**
 * Removes the guards dead takers left next to the lock: the lock is ours now, so any other guard
 * is for a holder that is gone, and a taker still holding one finds the lock not its dead holder's.
 */
async function sweepLitter(held: Held): Promise<void> {
  const base = basename(held.path);
  for (const name of await readdir(dirname(held.path)).catch(() => [] as string[])) {
    if (!name.startsWith(`${base}.takeover-`)) continue;
    if (name.includes(held.nonce)) continue;
    await rm(join(dirname(held.path), name), { recursive: true, force: true });
  }
}

/**
 * Holds a lock at `lockPath` (absolute, in a folder that exists) while `fn` runs. When a live run
 * holds it (after a few retries), `busy(pid)` makes the error to throw. Works for any user: it
 * needs only write access to the lock's folder. `hooks` is for tests.
 */
export async function holdLock<T>(lockPath: string, busy: (pid: number | null) => Error, fn: () => Promise<T>, hooks: LockHooks = {}): Promise<T> {
  let got = await tryTake(lockPath, hooks, 0);
  for (const delay of RETRY_DELAYS_MS) {
    if ('nonce' in got) break;
    await new Promise((r) => setTimeout(r, delay));
    got = await tryTake(lockPath, hooks, 0);
  }
  if (!('nonce' in got)) throw busy(got.pid);
  const held = got;
  await sweepLitter(held);
  // Keeps the mtime fresh for a reader on another host (or one that can't read the pid).
  const refresh = setInterval(() => {
    const now = new Date();
    void lutimes(held.path, now, now).catch(() => undefined);
  }, REFRESH_MS);
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    await release(held);
  }
}
