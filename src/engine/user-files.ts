import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { Runner } from '../model/runner.js';
import { foreignFolderOnWay } from '../fs/owned-path.js';
import { SystemFs } from '../fs/system-fs.js';
import { HostaliasError, usageError } from '../model/errors.js';
import type { Plan } from '../model/steps.js';
import { applySteps, type ApplyResult } from './apply.js';
import { withFileLock } from './lock.js';

/**
 * Where changes to a user's own files are journaled: $XDG_STATE_HOME/hostalias/journal.log, else
 * ~/.local/state/hostalias/journal.log, with the home of the user's account when HOME is unset
 * (the system journal under /var/lib/hostalias needs root; never a fixed name in a shared temp
 * folder, where another user could plant a link). Run as root, a location on a way another user
 * can change (`sudo -E` keeps the user's HOME) is passed over for root's own home. Read-only.
 */
export async function userJournalPath(env: Record<string, string | undefined>, uid = process.geteuid?.()): Promise<string> {
  const homes = [env['XDG_STATE_HOME'], env['HOME'] ? join(env['HOME'], '.local', 'state') : undefined].filter((d): d is string => !!d?.startsWith('/'));
  const own = join(userInfo().homedir, '.local', 'state');
  for (const base of homes) {
    const path = join(base, 'hostalias', 'journal.log');
    if (uid !== 0 || (await foreignFolderOnWay(path)) === null) return path;
  }
  return join(own, 'hostalias', 'journal.log');
}

/**
 * Refuses, before anything is written, a root run that would write `paths` where another user can
 * change the way to them (their project, under `sudo hostalias compose`): root would leave files
 * there that the user can't remove, or write through a link the user planted. A user's own run
 * needs no check: the kernel holds it to the user's rights.
 */
async function refuseForeignFolders(paths: readonly string[], uid = process.geteuid?.()): Promise<void> {
  if (uid !== 0) return;
  for (const path of paths) {
    const found = await foreignFolderOnWay(path);
    if (found === null) continue;
    const whose = found.why === 'owner' ? `belongs to uid ${found.uid}` : 'is writable by other users';
    throw usageError(
      `refusing to write ${path} as root: ${found.dir} ${whose}, so root would leave files there that the user can't remove, or write through a link planted there; nothing was written`,
      `run it as the user who owns ${found.dir}, without sudo (hostalias compose needs no root)`,
    );
  }
}

/**
 * The folders hostalias keeps a user's own files in: `hostalias run`'s cache ($XDG_CACHE_HOME or
 * ~/.cache) and the journal of `compose` ($XDG_STATE_HOME or ~/.local/state). `down` removes them
 * as that user, or names them. Pure; empty without HOME or XDG folders to say where.
 */
export function userFolders(env: Record<string, string | undefined>): Array<{ dir: string; what: string }> {
  const home = env['HOME'];
  const cache = env['XDG_CACHE_HOME'] || (home ? join(home, '.cache') : null);
  const state = env['XDG_STATE_HOME'] || (home ? join(home, '.local', 'state') : null);
  return [
    ...(cache ? [{ dir: join(cache, 'hostalias'), what: "`hostalias run`'s cache" }] : []),
    ...(state ? [{ dir: join(state, 'hostalias'), what: "`hostalias compose`'s journal" }] : []),
  ];
}

/** A user-file plan only writes files; a command in it is a bug, refused before anything runs. */
const noCommands: Runner = {
  run: (argv) => Promise.reject(new HostaliasError('failed', `a change to user files runs no commands (asked to run ${argv[0] ?? ''})`)),
};

export interface UserFilesResult<T> {
  change: T;
  applied: ApplyResult | null;
}

/**
 * Every change to a user's own files (the compose files in their project) goes through here, the
 * way system changes go through `converge`: plan, then apply the same steps with the same
 * applySteps (each one journaled; on failure the earlier ones undone in reverse). The plan is made
 * again under a lock next to `lockFile`, so two runs never interleave. Needs no root: the files,
 * the lock and the journal are the user's; run as root, nothing is written on a way another user
 * can change (refuseForeignFolders), not even the lock. `dryRun` plans only (no lock, nothing
 * written).
 */
export async function convergeUserFiles<T extends { plan: Plan }>(
  lockFile: string,
  plan: (fs: SystemFs) => Promise<T>,
  opts: { label: string; dryRun?: boolean | undefined; env: Record<string, string | undefined> },
): Promise<UserFilesResult<T>> {
  const fs = new SystemFs('/');
  if (opts.dryRun) return { change: await plan(fs), applied: null };
  const journal = await userJournalPath(opts.env);
  await refuseForeignFolders([`${lockFile}.lock`, journal]);
  return withFileLock(lockFile, async () => {
    const change = await plan(fs);
    const bad = change.plan.steps.find((s) => s.kind === 'run');
    if (bad) throw new HostaliasError('failed', `a change to user files runs no commands: ${bad.why}`);
    if (change.plan.steps.length === 0) return { change, applied: { done: [], skipped: [] } };
    await refuseForeignFolders(change.plan.steps.flatMap((s) => (s.kind === 'run' ? [] : [s.path])));
    const applied = await applySteps({ runner: noCommands, fs, live: true }, change.plan.steps, opts.label, { journal });
    return { change, applied };
  });
}
