/**
 * Finds how the reader of this process's output runs hostalias (model/invocation.ts says why).
 * Read-only: a walk of PATH and a few realpath calls.
 */
import { basename, dirname, join } from 'node:path';
import { rootEnv, type Invocation } from '../model/invocation.js';
import { findOnPath, realPathOrNull } from '../fs/which.js';
import { bundleDirs, selfPath } from './runtime.js';

/**
 * Set by the CLI on its sudo re-run: `name` when the person who started it runs `hostalias` by
 * name (that name on their PATH is this installation, and it re-runs itself), so the root process
 * prints fix lines as `hostalias …` for them, not `sudo NODE MAIN.JS …`; `path` otherwise. It also
 * tells the root process that the user's own process is still there (it cleans up the user's own
 * files after `down`). Only ever read to choose what to print.
 */
export const RERUN_ENV = 'HOSTALIAS_RERUN';

/** This root process is the CLI's sudo re-run for a user who is still waiting for it. */
export function isRerun(env: Readonly<Record<string, string | undefined>>): boolean {
  return env['SUDO_USER'] !== undefined && (env[RERUN_ENV] === 'name' || env[RERUN_ENV] === 'path');
}

/** `main` is a CLI bundle's entry: main.js next to the bundle's runtime.json. */
function isBundleMain(main: string): boolean {
  return basename(main) === 'main.js' && realPathOrNull(join(dirname(main), 'runtime.json')) !== null;
}

/**
 * The CLI entry that runs this code: the script node started when that is the bundle's main.js
 * (the CLI, which re-runs itself through sudo), else the bundle that belongs to this code (a
 * library caller, who runs no main.js). Null when there is none (a library used without a build).
 */
function cliEntry(): { main: string; cli: boolean } | null {
  const started = selfPath();
  if (isBundleMain(started)) return { main: started, cli: true };
  for (const dir of bundleDirs()) {
    const main = realPathOrNull(join(dir, 'main.js'));
    if (main !== null && isBundleMain(main)) return { main, cli: false };
  }
  return null;
}

/**
 * Whether `hostalias` on `searchPath` is this installation: the name resolves to `main` itself (a
 * bin link straight to main.js) or to the launcher next to it (dist/cli/hostalias). Read-only.
 */
export function hostaliasOnPathIs(main: string, searchPath: string | undefined): boolean {
  const found = findOnPath('hostalias', searchPath);
  if (found === null) return false;
  const real = realPathOrNull(found);
  return real === main || real === join(dirname(main), 'hostalias');
}

export interface InvocationFacts {
  env: Readonly<Record<string, string | undefined>>;
  isRoot: boolean;
}

/**
 * How the reader runs this hostalias. The reader is who started the process: the user itself, or,
 * for root with SUDO_USER set, the user who ran sudo (directly, or through the CLI's re-run, which
 * says so with RERUN_ENV). Read-only.
 */
export function detectInvocation({ env, isRoot }: InvocationFacts): Invocation {
  const entry = cliEntry();
  if (entry === null) return { self: ['hostalias'], root: ['sudo', 'hostalias'], rerun: false };
  const { main, cli } = entry;
  const absolute = [process.execPath, main];
  // For root, PATH is root's own (under sudo: secure_path): `sudo hostalias` works exactly when it finds this installation.
  const byName = hostaliasOnPathIs(main, env['PATH']);
  // What root runs for this user must ask the user's engine too (the re-run passes the same).
  const vars = Object.entries(rootEnv(env)).map(([k, v]) => `${k}=${v}`);
  if (isRoot && env['SUDO_USER']) {
    const reader = env[RERUN_ENV] === 'name' ? ['hostalias'] : absolute;
    return { self: reader, root: ['sudo', ...vars, ...(byName ? ['hostalias'] : absolute)], rerun: env[RERUN_ENV] === 'name' };
  }
  const self = byName ? ['hostalias'] : absolute;
  if (isRoot) return { self, root: self, rerun: true };
  return { self, root: ['sudo', ...vars, ...absolute], rerun: cli && env['HOSTALIAS_NO_SUDO'] !== '1' };
}
