import type { FileOwner } from '../model/steps.js';
import { SystemFs } from './system-fs.js';

/** Only one user's rights at a time: the switch below is process-wide. */
let held: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with the files of `owner`'s home seen with that user's rights: as root, the effective
 * uid, gid and groups are switched for the duration (glibc applies seteuid to every thread, so
 * libuv's file threads too) and switched back after, also on failure; as that user, as is. A link
 * the user planted, a folder they own, a file only they may read: all are met with their rights,
 * never root's. The paths are the real ones (a user's file is never under --files-root). Calls
 * are serialised: nothing else in hostalias touches files while `fn` runs, since the CLI runs its
 * steps one after the other. Another user than root can only read, with its own rights.
 */
export async function withUserFiles<T>(owner: FileOwner, fn: (fs: SystemFs) => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const fs = new SystemFs('/');
    const euid = process.geteuid?.() ?? -1;
    if (euid !== 0 || owner.uid === 0) return fn(fs);
    const groups = process.getgroups?.() ?? [];
    process.setgroups?.([owner.gid]);
    process.setegid?.(owner.gid);
    process.seteuid?.(owner.uid);
    try {
      return await fn(fs);
    } finally {
      process.seteuid?.(0);
      process.setegid?.(0);
      process.setgroups?.(groups);
    }
  };
  const next = held.then(run, run);
  held = next.catch(() => undefined);
  return next;
}
