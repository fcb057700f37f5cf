import type { ChangeResult } from '../engine/converge.js';
import type { Context } from '../model/context.js';
import { renderPlan, renderStep, type RenderTarget, type Step } from '../model/steps.js';
import type { CliIO } from './io.js';

function renderTarget(ctx: Context): RenderTarget {
  return { rooted: ctx.fs.isRooted, root: ctx.fs.root, platform: ctx.backend.platform };
}

function stepJson(step: Step, ctx: Context): Record<string, unknown> {
  return { ...step, shell: renderStep(step, renderTarget(ctx)) };
}

/** `lines` without repeats, in the order they first came. Pure. */
function unique(lines: readonly string[]): string[] {
  return [...new Set(lines)];
}

/** Prints the outcome of a changing command: the plan (dry run), what changed, or "already …". */
export function printChange(
  io: CliIO,
  ctx: Context,
  command: string,
  res: ChangeResult,
  opts: { json?: boolean; already: string; done?: string[]; extra?: Record<string, unknown> },
): void {
  const changed = res.plan.steps.length > 0;
  if (opts.json) {
    io.out(
      JSON.stringify(
        {
          command,
          dryRun: !res.applied,
          applied: res.applied,
          changed,
          steps: res.plan.steps.map((s) => stepJson(s, ctx)),
          skipped: res.skipped.map((s) => stepJson(s, ctx)),
          // The sentences as before; the same notes with their id and facts for programs.
          notes: res.plan.notes.map((n) => n.text),
          warnings: res.plan.warnings.map((w) => w.text),
          structuredNotes: res.plan.notes,
          structuredWarnings: res.plan.warnings,
          state: res.state,
          ...opts.extra,
        },
        null,
        2,
      ),
    );
    return;
  }
  for (const w of unique(res.plan.warnings.map((n) => n.text))) io.err(`warning: ${w}`);
  if (!res.applied) {
    io.out(changed ? `Plan for \`hostalias ${command}\` (dry run: nothing was changed):` : `Nothing to do: ${opts.already}`);
    if (changed) io.out(renderPlan(res.plan, renderTarget(ctx)));
    for (const n of unique(res.plan.notes.map((x) => x.text))) io.out(`note: ${n}`);
    return;
  }
  if (!changed) {
    io.out(`✓ ${opts.already}`);
    return;
  }
  // One line per fact: the steps of one change share its `why` (removing an installed copy is a
  // step per file), and rounds of a recovery may repeat a note.
  const done = res.plan.steps.map((s) => `${res.skipped.includes(s) ? '- skipped (files under a folder: service managers not called):' : '✓'} ${s.why}`);
  for (const line of unique(done)) io.out(line);
  for (const n of unique(res.plan.notes.map((x) => x.text))) io.out(`note: ${n}`);
  for (const line of opts.done ?? []) io.out(line);
}
