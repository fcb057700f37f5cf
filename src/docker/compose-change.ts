import { basename } from 'node:path';
import type { SystemFs } from '../fs/system-fs.js';
import { usageError } from '../model/errors.js';
import { isManaged } from '../model/managed.js';
import { emptyPlan, type Plan, planNote } from '../model/steps.js';
import type { HostTarget } from './add-hosts.js';
import { backupPath, displayPath, fileMode, loadComposeSources, outputPath } from './compose-files.js';
import { planInPlace, planOverride, type ComposePlan } from './compose-plan.js';

export interface ComposeRequest {
  cwd: string;
  /** -f files; none: compose's default file (and its override) in cwd. */
  files: readonly string[];
  output?: string | undefined;
  inPlace?: boolean | undefined;
  /** COMPOSE_FILE and COMPOSE_PATH_SEPARATOR choose the files as compose does. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ComposeChange {
  /** The write steps (the backup first, for --in-place); empty when nothing changes. */
  plan: Plan;
  /** The file written (override or the edited compose file), absolute. */
  out: string;
  compose: ComposePlan;
  /** How to run compose with the result. */
  usage: string[];
  /** The -f file that is also the output, left unread. */
  skippedOutput: string | null;
}

/** The compose file that decides where the output goes (and is locked while it is written). Read-only. */
export async function composeOutput(fs: SystemFs, req: ComposeRequest): Promise<string> {
  const first = (await loadComposeSources(fs, req.cwd, req.files, req.env ?? {}))[0];
  if (!first) throw usageError('no compose file given');
  return req.inPlace ? first.abs : outputPath(req.cwd, first, req.output);
}

/**
 * `hostalias compose` as a plan: read the user's compose files (`fs` rooted at '/', absolute
 * paths) and return the writes that give every service the alias names. Read-only; the engine
 * applies the plan (journal, rollback, lock).
 */
export async function planCompose(fs: SystemFs, req: ComposeRequest, target: HostTarget): Promise<ComposeChange> {
  const sources = await loadComposeSources(fs, req.cwd, req.files, req.env ?? {});
  const first = sources[0];
  if (!first) throw usageError('no compose file given');
  let compose: ComposePlan;
  let out: string;
  let usage: string[];
  let before: string | null;
  let skippedOutput: string | null = null;
  if (req.inPlace) {
    if (sources.length > 1 || req.output)
      throw usageError('--in-place edits exactly one compose file and takes no -o', `hostalias compose --in-place -f ${first.path}`);
    out = first.abs;
    usage = [`docker compose -f ${first.path} up`];
    compose = planInPlace(first, target);
    before = first.text;
  } else {
    out = outputPath(req.cwd, first, req.output);
    const inputs = sources.filter((s) => s.abs !== out);
    if (inputs.length < sources.length) skippedOutput = displayPath(out, req.cwd);
    before = await fs.read(out);
    if (before !== null && !isManaged(before)) {
      throw usageError(
        `${displayPath(out, req.cwd)} exists and was not written by hostalias; nothing was written`,
        `pass another file with -o, or remove ${displayPath(out, req.cwd)}`,
      );
    }
    const fileArgs = [...inputs.map((s) => s.path), displayPath(out, req.cwd)].map((p) => `-f ${p}`).join(' ');
    usage = [`docker compose ${fileArgs} up`, `docker-compose ${fileArgs} up    (Compose v1)`];
    compose = planOverride(inputs, target, usage, basename(out));
  }
  const plan = emptyPlan();
  plan.notes.push(...compose.notes.map((n) => planNote('compose', n)));
  if (compose.content !== null && compose.content !== before) {
    // An edit in place or its backup must not widen the file's mode (a compose file can hold secrets).
    const mode = req.inPlace ? await fileMode(fs, out) : 0o644;
    if (req.inPlace && before !== null) {
      const backup = backupPath(out);
      plan.steps.push({
        kind: 'write',
        path: backup,
        content: before,
        mode,
        before: await fs.read(backup),
        why: `keep the original as ${displayPath(backup, req.cwd)}`,
      });
    }
    plan.steps.push({
      kind: 'write',
      path: out,
      content: compose.content,
      mode,
      before,
      why: `extra_hosts for the alias names in ${displayPath(out, req.cwd)}`,
    });
  }
  return { plan, out, compose, usage, skippedOutput };
}
