/**
 * How the person reading hostalias's output runs hostalias: the start of every fix line that names
 * a hostalias command. A fix line is a promise that it works when that person pastes it, and
 * `sudo hostalias …` breaks that promise for a node from nvm, volta, fnm or asdf (sudo's
 * secure_path has no `hostalias`). exec/invocation.ts finds the facts for this process; the
 * Context carries them; every fix line that runs hostalias is built by hostaliasLine or fixCommand.
 */
import { shellQuote } from './shell.js';

export interface Invocation {
  /** Runs this hostalias as the reader: `hostalias` when that name on their PATH is this installation, else node and main.js by absolute path. */
  self: readonly string[];
  /** Runs it as root for the reader: `sudo NODE MAIN.JS` (never `sudo hostalias` unless sudo's own PATH was seen to find it), or `self` when the reader is root. */
  root: readonly string[];
  /** `self` runs a changing command that needs root again through sudo by itself (the CLI's re-run). */
  rerun: boolean;
}

/**
 * What a command needs to do its job:
 * - `user`: nothing (status, flags, a foreground forward): the reader runs it as themself;
 * - `change`: root, and the CLI runs itself again through sudo for it (up, down, expose, unexpose,
 *   refresh, forward --install/--uninstall): plain `hostalias …` where that re-run happens;
 * - `root`: root, with no re-run (doctor's checks that read root-only state): always as root.
 */
export type CommandNeeds = 'user' | 'change' | 'root';

/**
 * For a Context that doesn't say (test doubles, embedders building their own): `hostalias` re-runs
 * itself. defaultContext always sets the detected one.
 */
export const DEFAULT_INVOCATION: Invocation = { self: ['hostalias'], root: ['sudo', 'hostalias'], rerun: true };

/**
 * The variables that name the user's container engines, for hostalias run as root on their
 * behalf (the sudo re-run, a fix line that runs it with sudo): sudo resets the environment, and
 * root's docker would otherwise ask /var/run/docker.sock. DOCKER_HOST as set; else the endpoint
 * of the user's docker context as DOCKER_HOST when the caller resolved it (`contextHost`: root
 * has no such context), else DOCKER_CONTEXT as set; Podman's CONTAINER_HOST; and XDG_RUNTIME_DIR
 * when a rootless engine's socket named above lives in it. Only variables that are set. Pure.
 */
export function rootEnv(env: Readonly<Record<string, string | undefined>>, contextHost?: string | null): Record<string, string> {
  const vars: Record<string, string> = {};
  const dockerHost = env['DOCKER_HOST'] || contextHost;
  if (dockerHost) vars['DOCKER_HOST'] = dockerHost;
  else if (env['DOCKER_CONTEXT']) vars['DOCKER_CONTEXT'] = env['DOCKER_CONTEXT'];
  if (env['CONTAINER_HOST']) vars['CONTAINER_HOST'] = env['CONTAINER_HOST'];
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime && [vars['DOCKER_HOST'], vars['CONTAINER_HOST']].some((h) => h?.includes(`${runtime.replace(/\/$/, '')}/`))) vars['XDG_RUNTIME_DIR'] = runtime;
  return vars;
}

/** `args` as words: an argv as is, a string split at spaces (each word is quoted when printed). Pure. */
function words(args: string | readonly string[]): readonly string[] {
  return typeof args === 'string' ? args.split(/\s+/).filter((w) => w !== '') : args;
}

/**
 * The shell line that runs `hostalias ARGS` for the reader of `inv`. Pure. The one place a hostalias
 * command line is put together: DoctorInput.hostalias, the notes and warnings of planners, the
 * errors of changing commands and the CLI's own hints all come through here.
 */
export function hostaliasLine(inv: Invocation, args: string | readonly string[], needs: CommandNeeds = 'change'): string {
  const prefix = needs === 'user' || (needs === 'change' && inv.rerun) ? inv.self : inv.root;
  return shellQuote([...prefix, ...words(args)]);
}

/** What fixCommand reads of a Context (structural: this module is below context.ts). */
export interface FixTarget {
  fs: { readonly isRooted: boolean; readonly root: string };
  live: boolean;
  invocation?: Invocation | undefined;
}

/** `--root DIR` / `--files-root DIR` when `ctx` works on a folder: a fix names the target the command looked at. Pure. */
export function targetArgs(ctx: FixTarget): string[] {
  return ctx.fs.isRooted ? [ctx.live ? '--files-root' : '--root', ctx.fs.root] : [];
}

/** Builds a fix line that runs hostalias (see hostaliasLine). */
export type FixCommand = (args: string | readonly string[], needs?: CommandNeeds) => string;

/**
 * The fix line for `hostalias ARGS` run against ctx's target (its --root/--files-root added), for
 * ctx's reader. Pure.
 */
export function fixCommand(ctx: FixTarget, args: string | readonly string[], needs: CommandNeeds = 'change'): string {
  return hostaliasLine(ctx.invocation ?? DEFAULT_INVOCATION, [...words(args), ...targetArgs(ctx)], needs);
}

/** fixCommand bound to `ctx`, for code that is handed a builder rather than a Context. Pure. */
export function fixCommandFor(ctx: FixTarget): FixCommand {
  return (args, needs) => fixCommand(ctx, args, needs);
}

/** The builder for code that has no Context and no reader to ask (test doubles): DEFAULT_INVOCATION, no target. */
export const defaultFix: FixCommand = (args, needs) => hostaliasLine(DEFAULT_INVOCATION, args, needs);
