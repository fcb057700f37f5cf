import { availableParallelism } from 'node:os';
import { readLiveFile } from '../fs/system-fs.js';

/**
 * Descriptors kept free for the process itself (listener, IPC, stdio, DNS-less timers, logs) and
 * for the pipes of the C data path: each of its threads (one per CPU) keeps up to 16 empty pipes
 * of two descriptors. A direction moving bytes holds one more pipe; where none can be had it
 * waits for one (src/native/relay.c), so the cap below counts the two sockets of a pair.
 */
const RESERVED_FDS = 64 + 32 * availableParallelism();
/** When the limit can't be read (no /proc: macOS), assume its default soft limit of 256. */
const UNKNOWN_LIMIT = 256;

/** The soft "Max open files" of /proc/self/limits, or null. Pure. */
export function parseOpenFilesLimit(text: string | null): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s+/m.exec(text ?? '');
  if (!m?.[1]) return null;
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/**
 * How many TCP connections one relay process may hold: each takes two descriptors (client and
 * target), under RLIMIT_NOFILE (Node raises its soft limit to the hard one at start, so the
 * value read here is the one in force). Past it the relay refuses new connections at once instead
 * of hitting EMFILE, where a client waits in the backlog unanswered. Node has no
 * getrlimit, so the limit is read from /proc/self/limits.
 */
export async function defaultMaxConnections(): Promise<number> {
  const limit = parseOpenFilesLimit(await readLiveFile('/proc/self/limits')) ?? UNKNOWN_LIMIT;
  return Math.max(16, Math.floor((Math.min(limit, 1 << 22) - RESERVED_FDS) / 2));
}
