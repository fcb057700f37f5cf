import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Runner } from '../model/runner.js';
import { SystemFs } from '../fs/system-fs.js';
import { HostaliasError } from '../model/errors.js';
import type { Plan } from '../model/steps.js';
import { applySteps, type ApplyResult } from './apply.js';
import { withFileLock } from './lock.js';

/**
 * Where changes to a user's own files are journaled: $XDG_STATE_HOME/hostalias/journal.log, else
 * ~/.local/state/hostalias/journal.log (the system journal under /var/lib/hostalias needs root).
 */
export function userJournalPath(env: Record<string, string | undefined>): string {
  const base = env['XDG_STATE_HOME'] || (env['HOME'] ? join(env['HOME'], '.local', 'state') : join(tmpdir(), 'hostalias-state'));
  return join(base, 'hostalias', 'journal.log');
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
 * the lock and the journal are the user's. `dryRun` plans only (no lock, nothing written).
 */
export async function convergeUserFiles<T extends { plan: Plan }>(
  lockFile: string,
  plan: (fs: SystemFs) => Promise<T>,
  opts: { label: string; dryRun?: boolean | undefined; env: Record<string, string | undefined> },
): Promise<UserFilesResult<T>> {
  const fs = new SystemFs('/');
  if (opts.dryRun) return { change: await plan(fs), applied: null };
  return withFileLock(lockFile, async () => {
    const change = await plan(fs);
    const bad = change.plan.steps.find((s) => s.kind === 'run');
    if (bad) throw new HostaliasError('failed', `a change to user files runs no commands: ${bad.why}`);
    if (change.plan.steps.length === 0) return { change, applied: { done: [], skipped: [] } };
    const applied = await applySteps({ runner: noCommands, fs, live: true }, change.plan.steps, opts.label, { journal: userJournalPath(opts.env) });
    return { change, applied };
  });
}
