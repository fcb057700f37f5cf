import type { ChangeResult } from '../engine/converge.js';
import type { Context } from '../model/context.js';
import { renderPlan, renderStep, type RenderTarget, type Step } from '../model/steps.js';
import type { CliIO } from './io.js';

function renderTarget(ctx: Context): RenderTarget {
  return { rooted: ctx.fs.isRooted, root: ctx.fs.root };
}

function stepJson(step: Step, ctx: Context): Record<string, unknown> {
  return { ...step, shell: renderStep(step, renderTarget(ctx)) };
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
  for (const w of res.plan.warnings) io.err(`warning: ${w.text}`);
  if (!res.applied) {
    io.out(changed ? `Plan for \`hostalias ${command}\` (dry run: nothing was changed):` : `Nothing to do: ${opts.already}`);
    if (changed) io.out(renderPlan(res.plan, renderTarget(ctx)));
    for (const n of res.plan.notes) io.out(`note: ${n.text}`);
    return;
  }
  if (!changed) {
    io.out(`✓ ${opts.already}`);
    return;
  }
  for (const s of res.plan.steps) {
    const skipped = res.skipped.includes(s);
    io.out(`${skipped ? '- skipped (files under a folder: service managers not called):' : '✓'} ${s.why}`);
  }
  for (const n of res.plan.notes) io.out(`note: ${n.text}`);
  for (const line of opts.done ?? []) io.out(line);
}
