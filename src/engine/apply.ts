import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeCause, HostaliasError, isNoSpace } from '../model/errors.js';
import { commandError } from '../exec/runner.js';
import type { RunOptions, RunResult, Runner } from '../model/runner.js';
import { shellQuote } from '../model/shell.js';
import { CAPTURED, type Retry, type Step, type StepCapture, type StepUndo } from '../model/steps.js';
import type { Context } from '../model/context.js';
import { INTENT_PATH } from '../model/intent.js';
import { fixCommand } from '../model/invocation.js';
import { JOURNAL_PATH, STATE_PATH } from '../model/state.js';
import { withUserFiles } from '../fs/user-fs.js';

export interface ApplyResult {
  done: Step[];
  /** Service-manager steps not run because the target is a --root folder. */
  skipped: Step[];
}

/** What applying needs of a context: the runner and the files (a user-file change has no backend). */
export type Applier = Pick<Context, 'runner' | 'fs' | 'live'>;

type Undo = { what: string; run: () => Promise<void> };

/** A step as the journal (and the intent record) names it. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'run':
      return shellQuote(step.argv);
    case 'write':
      return `write ${step.path}${step.owner ? ` as ${step.owner.user}` : ''}`;
    case 'remove':
      return `remove ${step.path}${step.owner ? ` as ${step.owner.user}` : ''}`;
    case 'symlink':
      return `link ${step.path} -> ${step.target}`;
    case 'copy':
      return `copy ${step.from} to ${step.path}`;
  }
}

/** Runs argv; with `retry`, again while it fails with matching output, within the time bound. Throws on failure. */
async function runRetrying(runner: Runner, argv: readonly string[], doing: string, retry?: Retry, opts?: RunOptions): Promise<RunResult> {
  const until = Date.now() + (retry?.forMs ?? 0);
  for (;;) {
    const res = await runner.run(argv, opts);
    if (res.code === 0) return res;
    const again = retry && new RegExp(retry.whileOutput).test(`${res.stdout}\n${res.stderr}`) && Date.now() + retry.everyMs <= until;
    if (!again) throw commandError(argv, doing, res);
    await sleep(retry.everyMs);
  }
}

async function restoreFile(ctx: Applier, path: string, previous: string | Buffer | null, mode?: number | null): Promise<void> {
  if (previous === null) await ctx.fs.remove(path);
  else await ctx.fs.write(path, previous, mode ?? undefined);
}

/** An argv undo as the structured form, with a captured value (the pf token) put in. */
function structuredUndo(undo: string[] | StepUndo, captured: string | null): StepUndo {
  const fill = (argv: readonly string[]) => argv.map((a) => (a === CAPTURED && captured !== null ? captured : a));
  if (Array.isArray(undo)) return { kind: 'run', argv: fill(undo) };
  return undo.kind === 'run' ? { ...undo, argv: fill(undo.argv) } : undo;
}

/** A command for the running system is not run under --root, nor a service manager's for a folder. */
function skipReason(ctx: Applier, step: Step): string | null {
  if (step.kind !== 'run') return null;
  if (!ctx.live) return '--root: files only';
  if (step.service && ctx.fs.isRooted) return 'files under a folder';
  return null;
}

/** Stores what a step's output names (the pf enable token) so a later `down` can release it. */
async function saveCapture(ctx: Applier, step: Step & { kind: 'run' }, capture: StepCapture, output: string): Promise<string> {
  const value = new RegExp(capture.pattern).exec(output)?.[1];
  if (value === undefined) {
    throw new HostaliasError('failed', `${step.why}: \`${shellQuote(step.argv)}\` succeeded but printed no ${capture.pattern}: ${output.trim() || 'nothing'}`);
  }
  await ctx.fs.write(capture.path, `${value}\n`, 0o600);
  return value;
}

async function applyStep(ctx: Applier, step: Step): Promise<Undo | null> {
  switch (step.kind) {
    case 'run': {
      const res = await runRetrying(ctx.runner, step.argv, step.why, step.retry, step.input === undefined ? undefined : { input: step.input });
      if (step.expect !== undefined && !new RegExp(step.expect, 'm').test(res.stdout)) {
        throw new HostaliasError(
          'failed',
          `${step.why}: \`${shellQuote(step.argv)}\` printed ${JSON.stringify(res.stdout.trim().slice(0, 200) || res.stderr.trim().slice(0, 200))}, not /${step.expect}/`,
        );
      }
      const captured = step.capture ? await saveCapture(ctx, step, step.capture, `${res.stdout}\n${res.stderr}`) : null;
      if (!step.undo) return null;
      const undo = structuredUndo(step.undo, captured);
      const capture = step.capture;
      if (undo.kind === 'file') return { what: `restore ${undo.path}`, run: () => restoreFile(ctx, undo.path, undo.content, undo.mode) };
      return {
        what: shellQuote(undo.argv),
        run: async () => {
          await runRetrying(ctx.runner, undo.argv, `undoing: ${step.why}`, step.undoRetry, undo.input === undefined ? undefined : { input: undo.input });
          if (capture) await ctx.fs.remove(capture.path);
        },
      };
    }
    case 'write': {
      if (step.owner) {
        const owner = step.owner;
        const previous = await withUserFiles(owner, async (fs) => {
          const before = await fs.read(step.path);
          await fs.write(step.path, step.content, before === null ? step.mode : ((await fs.mode(step.path)) ?? step.mode));
          return before;
        });
        return {
          what: `restore ${step.path} as ${owner.user}`,
          run: () => withUserFiles(owner, (fs) => (previous === null ? fs.remove(step.path) : fs.write(step.path, previous))),
        };
      }
      const previous = await ctx.fs.read(step.path);
      await ctx.fs.write(step.path, step.content, step.mode);
      return { what: `restore ${step.path}`, run: () => restoreFile(ctx, step.path, previous) };
    }
    case 'remove': {
      if (step.owner) {
        const owner = step.owner;
        const previous = await withUserFiles(owner, async (fs) => {
          const before = { bytes: await fs.readBytes(step.path), mode: await fs.mode(step.path) };
          await fs.remove(step.path);
          return before;
        });
        return {
          what: `restore ${step.path} as ${owner.user}`,
          run: () => withUserFiles(owner, async (fs) => (previous.bytes === null ? undefined : fs.write(step.path, previous.bytes, previous.mode ?? 0o644))),
        };
      }
      // Bytes, not text: the installed copy holds a node binary. A link is kept as a link (and
      // not read through: inside hostalias's own folders that is refused).
      const link = await ctx.fs.readLink(step.path);
      const previous = link === null ? await ctx.fs.readBytes(step.path) : null;
      const mode = link === null ? await ctx.fs.mode(step.path) : null;
      await ctx.fs.remove(step.path);
      return { what: `restore ${step.path}`, run: () => (link !== null ? ctx.fs.symlink(step.path, link) : restoreFile(ctx, step.path, previous, mode)) };
    }
    case 'copy': {
      const pairs = step.files ? step.files.map((f) => [`${step.from}/${f}`, `${step.path}/${f}`] as const) : [[step.from, step.path] as const];
      const undos: Array<() => Promise<void>> = [];
      const folder = step.files ? step.path : dirname(step.path);
      // A folder this step creates goes again on rollback (the files' undo empties it first).
      if (!(await ctx.fs.exists(folder))) undos.push(() => ctx.fs.remove(folder));
      try {
        for (const [from, to] of pairs) {
          const previous = await ctx.fs.readBytes(to);
          const mode = await ctx.fs.mode(to);
          await ctx.fs.installFrom(from, to, step.mode, step.sha256?.[from]);
          undos.unshift(() => restoreFile(ctx, to, previous, mode));
        }
      } catch (err) {
        for (const undo of undos) await undo().catch(() => undefined);
        throw err;
      }
      return {
        what: `restore ${step.path}`,
        run: async () => {
          for (const undo of undos) await undo();
        },
      };
    }
    case 'symlink': {
      const previous = await ctx.fs.readLink(step.path);
      await ctx.fs.symlink(step.path, step.target);
      return { what: `unlink ${step.path}`, run: () => (previous !== null ? ctx.fs.symlink(step.path, previous) : ctx.fs.remove(step.path)) };
    }
  }
}

/**
 * Executes steps in order, journaling each. Setup stops at the first failure and undoes, in
 * reverse, everything already done; the error names the failed step, the cause and the rollback
 * outcome. Teardown (`down`) instead tries every step and reports all failures together, so one
 * stuck piece doesn't keep the others installed. Needs the privileges the steps need (root).
 */
export interface ApplyOptions {
  teardown?: boolean;
  /**
   * Runs after the last step as part of the change: records the new state. Its failure (ENOSPC
   * writing state.json) is a failed step like any other: setup rolls back.
   */
  commit?: () => Promise<void>;
  /** Told after a setup rollback whether every undo succeeded (the intent record can then go). */
  rolledBack?: (clean: boolean) => Promise<void>;
  /** Where the journal goes (a user's own files journal in their state dir); default the system journal. */
  journal?: string;
}

/** The commit as a step, for the journal and error messages. */
const COMMIT_STEP: Step = { kind: 'write', path: STATE_PATH, content: '', mode: 0o644, before: null, why: 'record what is installed (state.json)' };

export async function applySteps(ctx: Applier, steps: readonly Step[], label: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const journalPath = opts.journal ?? JOURNAL_PATH;
  const journal = (line: string) => ctx.fs.append(journalPath, `${new Date().toISOString()} ${label}: ${line}\n`);
  const undos: Undo[] = [];
  const failures: Array<{ step: Step; err: unknown }> = [];
  const result: ApplyResult = { done: [], skipped: [] };
  // Before any change: a journal that can't be written (a link, a FIFO, a full disk) stops the
  // change here, with nothing done; later journal lines are best effort. A teardown goes on
  // with a full disk: removing is what frees it, and `down` must work there.
  if (steps.length > 0) {
    try {
      await journal(`begin: ${steps.length} step(s)`);
    } catch (err) {
      if (!(opts.teardown && isNoSpace(err))) {
        await opts.rolledBack?.(true).catch(() => undefined);
        const fix = fixOf(err) ?? `free space or fix ${ctx.fs.resolve(journalPath)}, then run it again`;
        throw new HostaliasError('failed', `writing the journal ${ctx.fs.resolve(journalPath)}: ${describeCause(err)}; nothing was changed`, fix, {
          cause: err,
        });
      }
    }
  }
  for (const step of steps) {
    const skip = skipReason(ctx, step);
    if (skip) {
      result.skipped.push(step);
      await journal(`skipped (${skip}) ${describeStep(step)}`);
      continue;
    }
    let undo: Undo | null = null;
    try {
      undo = await applyStep(ctx, step);
      if (undo) undos.push(undo);
      result.done.push(step);
    } catch (err) {
      // Any error is a failed step, whatever its kind (ENOSPC, EISDIR, EIO, a bug in a planner's step).
      await journal(`FAILED ${describeStep(step)}: ${describeCause(err)}`).catch(() => undefined);
      if (opts.teardown) failures.push({ step, err });
      else throw await rollbackAndTell(ctx, undos, step, err, journal, opts);
      continue;
    }
    // The step is done; a journal that can't be written (a full disk) doesn't undo it.
    await journal(`done ${describeStep(step)}`).catch(() => undefined);
  }
  if (opts.commit) {
    try {
      await opts.commit();
    } catch (err) {
      await journal(`FAILED ${COMMIT_STEP.why}: ${describeCause(err)}`).catch(() => undefined);
      if (opts.teardown) failures.push({ step: COMMIT_STEP, err });
      else throw await rollbackAndTell(ctx, undos, COMMIT_STEP, err, journal, opts);
    }
  }
  if (failures.length > 0) throw teardownError(ctx.fs.resolve(journalPath), failures, result.done.length);
  return result;
}

async function rollbackAndTell(
  ctx: Applier,
  undos: Undo[],
  failed: Step,
  cause: unknown,
  journal: (l: string) => Promise<void>,
  opts: ApplyOptions,
): Promise<HostaliasError> {
  const { error, clean } = await rollback(ctx, undos, failed, cause, journal, ctx.fs.resolve(opts.journal ?? JOURNAL_PATH));
  await opts.rolledBack?.(clean).catch(() => undefined);
  return error;
}

function teardownError(journalFile: string, failures: Array<{ step: Step; err: unknown }>, done: number): HostaliasError {
  const list = failures.map(({ step, err }) => `${step.why}: ${describeCause(err)}`).join('; ');
  const first = failures[0]?.err;
  const code = first instanceof HostaliasError ? first.code : 'failed';
  const fix = first instanceof HostaliasError && first.fix ? first.fix : `fix the cause and run it again (the state is kept; see ${journalFile})`;
  return new HostaliasError(code, `${failures.length} step(s) failed (${done} others were done): ${list}`, fix);
}

async function rollback(
  ctx: Applier,
  undos: Undo[],
  failed: Step,
  cause: unknown,
  journal: (l: string) => Promise<void>,
  journalFile: string,
): Promise<{ error: HostaliasError; clean: boolean }> {
  const problems: string[] = [];
  for (const undo of [...undos].reverse()) {
    try {
      await undo.run();
    } catch (err) {
      problems.push(`${undo.what}: ${describeCause(err)}`);
      await journal(`ROLLBACK FAILED ${undo.what}: ${describeCause(err)}`).catch(() => undefined);
      continue;
    }
    await journal(`rolled back: ${undo.what}`).catch(() => undefined);
  }
  const base = cause instanceof HostaliasError ? cause : null;
  const what = base ? base.message : `${failed.why}: ${describeCause(cause)}`;
  const undone = undos.length === 0 ? 'nothing had been changed yet' : `the ${undos.length} earlier change(s) were rolled back`;
  const tail = problems.length > 0 ? `; rolling back also failed for: ${problems.join('; ')} (see ${journalFile})` : '';
  const fix =
    base?.fix ??
    fixOf(cause) ??
    (problems.length > 0 ? `fix the cause, then run ${fixCommand(ctx, 'down')} (it finishes the rollback from ${ctx.fs.resolve(INTENT_PATH)})` : undefined);
  return { error: new HostaliasError(base?.code ?? 'failed', `${what} — ${undone}${tail}`, fix, { cause }), clean: problems.length === 0 };
}

/** The fix an error names, when it names one (HostaliasError, or an error carrying one). */
function fixOf(err: unknown): string | undefined {
  const fix = (err as { fix?: unknown } | null)?.fix;
  return typeof fix === 'string' ? fix : undefined;
}
