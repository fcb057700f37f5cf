/**
 * `hostalias run`'s cache (the goal: `run` adds at most 10% to `docker run`, and Node's own
 * start alone is more than that). Never for root: the launcher runs no cache as root, and Node
 * as root keeps none. The launcher, dist/cli/hostalias (scripts/launch.sh), execs
 * `docker run <flags> ARGS…` itself when this cache proves the flags are still the ones Node
 * would build, and otherwise runs Node, which writes the cache again. The cache holds the answer
 * (the engine CLI, the injected arguments, the note printed with them) and everything the
 * answer depended on:
 * - K: the launcher's key: its build and every environment variable and engine CLI
 *   on PATH that the answer reads (the launcher computes it; Node only copies it);
 * - B: the boot: a reboot may drop an alias that isn't persisted;
 * - F/N: files that existed and must not have changed since (state.json, and the engine's basis:
 *   docker's config and context, the engine's socket, recreated by every engine start), or that
 *   must still be absent;
 *   R: where a symbolic link among them pointed;
 *   H: for each regular file among them, what `cksum` prints of it (checksum, size, path): its
 *   content must be the same, not only its time (a state.json put back with an older mtime);
 * - L: the alias on lo, as `ip -o address show dev lo` prints it (the launcher asks each time).
 * The file's time is set to before the answer was observed, so a change made while Node
 * observed counts as a change. Linux only (the launcher needs /proc's boot id). What the cache
 * holds, what invalidates it and why it is safe: docs/architecture.md, "The `hostalias run` fast path".
 */
import { pathFacts, removeUserCache, writeUserCache, type PathFacts } from '../fs/user-cache.js';
import { readLiveFile } from '../fs/system-fs.js';
import type { Context } from '../model/context.js';
import { STATE_PATH } from '../model/state.js';
import type { HostTarget } from './add-hosts.js';
import type { EngineCli } from './engine.js';

export const RUN_CACHE_MAGIC = 'hostalias run cache 2';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';
/** Set by the launcher for Node: where the cache lives and the key it must carry. */
const CACHE_VAR = 'HOSTALIAS_RUN_CACHE';
const KEY_VAR = 'HOSTALIAS_RUN_KEY';

export interface RunCacheEntry {
  key: string;
  bootId: string;
  deps: PathFacts[];
  /** What `ip -o address show dev lo` prints for the alias, e.g. `inet 10.254.254.254/32`. */
  aliasToken: string;
  cli: EngineCli;
  /** Printed on stderr before the engine starts, as Node prints them. */
  notes: string[];
  /** The arguments after the CLI, before the user's: `run`, then the injected flags. */
  args: string[];
}

/** The cache file's text, or null when a value can't be kept on one line. Pure. */
export function runCacheText(e: RunCacheEntry): string | null {
  const values = [e.key, e.bootId, e.aliasToken, ...e.args, ...e.deps.flatMap((d) => [d.path, d.link ?? ''])];
  if (values.some((v) => /[\n\t]/.test(v))) return null;
  const deps = e.deps.flatMap((d) => [
    `${d.present ? 'F' : 'N'} ${d.path}`,
    ...(d.link === null ? [] : [`R ${d.path}\t${d.link}`]),
    ...(d.sum === null ? [] : [`H ${d.sum.crc} ${d.sum.size} ${d.path}`]),
  ]);
  const notes = e.notes.flatMap((n) => n.split('\n')).map((n) => `E ${n}`);
  // The cheap checks first, `ip` last; `.` ends a whole file (a torn one is never used).
  return `${[RUN_CACHE_MAGIC, `K ${e.key}`, `B ${e.bootId}`, ...deps, `L ${e.aliasToken}`, `C ${e.cli}`, ...notes, ...e.args.map((a) => `A ${a}`), '.'].join('\n')}\n`;
}

/** The launcher's request to keep a cache, taken out of the environment (the engine CLI must not inherit it). */
export function takeRunCacheRequest(env: NodeJS.ProcessEnv): { path: string; key: string } | null {
  const path = env[CACHE_VAR];
  const key = env[KEY_VAR];
  delete env[CACHE_VAR];
  delete env[KEY_VAR];
  return path && key && path.startsWith('/') ? { path, key } : null;
}

/**
 * What the answer of `hostalias run` depended on, or null when something it depended on has no
 * file that stands for it (an engine over ssh://, TLS or TCP; an IPv6 alias). Read-only.
 */
export async function observeRunCache(
  ctx: Pick<Context, 'fs'>,
  answer: { key: string; target: HostTarget; engineBasis: string[] | null; cli: EngineCli; notes: string[]; args: string[] },
): Promise<RunCacheEntry | null> {
  const bootId = (await readLiveFile(BOOT_ID))?.trim();
  if (!bootId || answer.target.ip.includes(':') || answer.engineBasis === null) return null;
  const deps = await Promise.all([ctx.fs.resolve(STATE_PATH), ...answer.engineBasis].map(pathFacts));
  return { key: answer.key, bootId, deps, aliasToken: `inet ${answer.target.ip}/32`, cli: answer.cli, notes: answer.notes, args: answer.args };
}

/**
 * Keeps `entry` as the cache at `path`, dated two seconds before `observedSince` (a file's time
 * comes from a coarser clock than Date.now(), and busybox's `test -nt` compares whole seconds:
 * a change made after `observedSince` must still read as newer), or removes the old
 * cache when there is nothing to keep. A cache is only ever a shortcut: failing to write one is
 * not an error of the run, so nothing here throws.
 */
export async function keepRunCache(path: string, entry: RunCacheEntry | null, observedSince: number): Promise<void> {
  if (process.geteuid?.() === 0) return;
  const text = entry === null ? null : runCacheText(entry);
  try {
    if (text === null || !(await writeUserCache(path, text, observedSince - 2000))) await removeUserCache(path);
  } catch {
    await removeUserCache(path).catch(() => undefined);
  }
}
