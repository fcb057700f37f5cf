import type { Context } from '../../model/context.js';
import { readLiveFile } from '../../fs/system-fs.js';
import { isPlainWord } from '../../model/shell.js';
import type { ServiceManager } from '../../model/expose.js';

/** The init system of the machine a context changes: observed once per context, then passed around. */
export interface InitFacts {
  /** PID 1's name on the live system; null under --root, where the live PID 1 says nothing. */
  pid1: string | null;
  /** systemd manages services here right now (sd_booted(3): /run/systemd/system exists); never under --root. */
  systemdRunning: boolean;
  /** systemd is installed on the target (its binary exists under the root). */
  systemdInstalled: boolean;
}

const SYSTEMD_BINARIES = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'];
const seen = new WeakMap<Context, Promise<InitFacts>>();

async function readInit(ctx: Context): Promise<InitFacts> {
  const live = !ctx.fs.isRooted;
  let systemdInstalled = false;
  for (const p of SYSTEMD_BINARIES) systemdInstalled ||= await ctx.fs.exists(p);
  return {
    pid1: live ? ((await readLiveFile('/proc/1/comm'))?.trim() ?? null) : null,
    systemdRunning: live && (await ctx.fs.exists('/run/systemd/system')),
    systemdInstalled,
  };
}

/** The init facts of `ctx`'s machine, asked once per context. Read-only. */
export function observeInit(ctx: Context): Promise<InitFacts> {
  let facts = seen.get(ctx);
  if (!facts) seen.set(ctx, (facts = readInit(ctx)));
  return facts;
}

/**
 * Whether systemd runs here to start the relays' units (sd_booted(3): /run/systemd/system, under
 * --files-root the folder's own, so a test can say either); an image (--root) starts them at boot.
 * Read-only.
 */
export async function systemdManager(ctx: Context): Promise<ServiceManager> {
  if (!ctx.live || (await ctx.fs.exists('/run/systemd/system'))) return { runs: true, why: '' };
  const pid1 = ctx.fs.isRooted ? null : (await observeInit(ctx)).pid1;
  return {
    runs: false,
    why: `no service manager runs here (${ctx.fs.resolve('/run/systemd/system')} is missing${pid1 ? `; PID 1 is ${pid1}, not systemd` : ''}: a container, or WSL without systemd)`,
  };
}

/**
 * An argv as one systemd `ExecStart=` value (systemd.service(5) "Command lines"): plain words as
 * they are, others in double quotes with `"` and `\` escaped. Not shell quoting: systemd does not
 * read single quotes the way a shell does. Pure.
 */
export function systemdExecLine(argv: readonly string[]): string {
  return argv.map((a) => (isPlainWord(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`)).join(' ');
}
