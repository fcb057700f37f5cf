import { createTwoFilesPatch } from 'diff';
import { shellQuote } from '../model/shell.js';

/**
 * One change to the system. Planners return these; only `apply` executes them.
 * - `run`: a command on the running system; `undo` reverses it when a later step fails: an argv,
 *   or a structured action (a command fed `input` on stdin, e.g. a whole nft ruleset, or a file
 *   put back as it was). `service` marks calls to a service manager (systemctl, nmcli, …), which
 *   run only when the files are the system's own (not under --root/--files-root). No `run` step
 *   runs under `--root`, which prepares an image.
 * - `write`: a whole file, atomically. `before` is what the planner observed (for diffs). A system
 *   file hostalias edits rather than owns is backed up by an explicit earlier `write` step.
 * - `remove` / `symlink`: as named; removing something already gone is success; `remove` takes
 *   an empty folder too.
 * - `owner` on `write` / `remove`: a file of that user's (see FileOwner).
 * - `copy`: puts a file of the running system (`from`: node) at `path`; with `files`, `from` and
 *   `path` are folders and those files are copied (the CLI bundle). The installed copy boot units
 *   run. `sha256` gives, by source path, the bytes planned: a source that changed since is refused.
 * A `run` may feed `input` to stdin (`pfctl -f -`) and `capture` a value from its output into a
 * file (the token `pfctl -E` prints); its `undo` may then use that value as `CAPTURED`. With
 * `expect`, the command must also print a line matching it (a check: the copied node runs).
 */
export type Step =
  | {
      kind: 'run';
      argv: string[];
      undo?: string[] | StepUndo;
      service?: boolean;
      input?: string;
      capture?: StepCapture;
      retry?: Retry;
      undoRetry?: Retry;
      expect?: string;
      why: string;
    }
  | { kind: 'write'; path: string; content: string; mode: number; before: string | null; why: string; owner?: FileOwner }
  | { kind: 'remove'; path: string; before: string | null; why: string; owner?: FileOwner }
  | { kind: 'symlink'; path: string; target: string; why: string }
  | { kind: 'copy'; from: string; path: string; mode: number; files?: string[]; sha256?: Record<string, string>; why: string };

/**
 * A file in a user's own home (a rootless engine's configuration): read and written with that
 * user's rights, never as root through a path the user controls. Its path is the real one, never
 * under --root/--files-root (which hold system files).
 */
export interface FileOwner {
  user: string;
  uid: number;
  gid: number;
}

/** A structured undo: a command with stdin, or a file restored to `content` (null: removed). */
export type StepUndo = { kind: 'run'; argv: string[]; input?: string } | { kind: 'file'; path: string; content: string | null; mode: number };

/**
 * Runs the command (`retry`) or its undo (`undoRetry`) again while it fails with output matching
 * `whileOutput`, every `everyMs`, for at most `forMs` — for a service manager that is still
 * finishing the previous step (launchd after a bootout).
 */
export interface Retry {
  whileOutput: string;
  forMs: number;
  everyMs: number;
  because: string;
}

/** Saves group 1 of `pattern`, matched against stdout then stderr, to `path` (mode 0600). */
export interface StepCapture {
  path: string;
  pattern: string;
}

/** Stands for the captured value in a capturing step's `undo` argv. */
export const CAPTURED = '{captured}';

/**
 * Something a planner noticed. `id` says what it is (stable: doctor and other readers match on
 * it), `data` holds the facts it is about, `text` is the sentence the user reads. Readers that
 * need a fact take it from `data`, never from the text.
 */
export interface PlanNote {
  id: string;
  text: string;
  data?: Readonly<Record<string, string | number | boolean | null>>;
}

/** A PlanNote. Pure. */
export function planNote(id: string, text: string, data?: Record<string, string | number | boolean | null>): PlanNote {
  return data === undefined ? { id, text } : { id, text, data };
}

export interface Plan {
  steps: Step[];
  /** Facts worth telling the user ("persistence: systemd (PID 1 is systemd)"). */
  notes: PlanNote[];
  /** Problems that don't stop the plan; each names the command that fixes it. */
  warnings: PlanNote[];
}

export function emptyPlan(): Plan {
  return { steps: [], notes: [], warnings: [] };
}

export function mergePlans(...plans: Plan[]): Plan {
  return {
    steps: plans.flatMap((p) => p.steps),
    notes: plans.flatMap((p) => p.notes),
    warnings: plans.flatMap((p) => p.warnings),
  };
}

/**
 * Where a plan lands, for rendering: the files' folder, whether the running system is touched,
 * and the platform whose tools the printed lines use (default linux: GNU coreutils).
 */
export interface RenderTarget {
  rooted: boolean;
  root: string;
  platform?: 'linux' | 'darwin';
}

/**
 * The file steps as macOS's BSD tools would do them (file_cmds install/install.1 and ln/ln.1):
 * BSD `install` has no GNU `-t`, and its `-D` takes a destdir argument, so a folder is made with
 * `install -d` and the files are named before it; `ln -h` replaces an existing link to a folder
 * (RUNTIME_DIR/current) instead of following it and linking inside the folder.
 */
function renderBsdFileStep(step: Extract<Step, { kind: 'copy' | 'symlink' }>, where: (p: string) => string): string {
  if (step.kind === 'symlink') return `$ ln -sfh ${shellQuote([step.target, where(step.path)])}`;
  const mode = step.mode.toString(8).padStart(4, '0');
  const dir = step.files ? step.path : step.path.slice(0, step.path.lastIndexOf('/')) || '/';
  const mkdir = `$ install -d -m 0755 ${shellQuote([where(dir)])}`;
  if (!step.files) return `${mkdir}\n$ install -m ${mode} ${shellQuote([step.from, where(step.path)])}`;
  return `${mkdir}\n$ install -m ${mode} ${shellQuote(step.files.map((f) => `${step.from}/${f}`))} ${shellQuote([where(step.path)])}`;
}

/** Renders a step as the user would type it on `opts.platform`, or as a file diff, for `--dry-run`. */

export function renderStep(step: Step, opts: RenderTarget): string {
  const where = (p: string) => (opts.rooted ? `${opts.root.replace(/\/$/, '')}${p}` : p);
  if (opts.platform === 'darwin' && (step.kind === 'copy' || step.kind === 'symlink')) return renderBsdFileStep(step, where);
  switch (step.kind) {
    case 'run': {
      let line = `$ ${shellQuote(step.argv)}`;
      if (step.capture) line += `    # saves ${where(step.capture.path)}`;
      if (step.retry) line += `    # retried for up to ${Math.round(step.retry.forMs / 1000)} s while ${step.retry.because}`;
      if (step.service && opts.rooted) line += '    # skipped (files under a folder)';
      return step.input === undefined ? line : `${line} <<'EOF'\n${step.input.trimEnd()}\nEOF`;
    }
    case 'symlink':
      return `$ ln -sf ${shellQuote([step.target, where(step.path)])}`;
    case 'remove':
      if (step.owner) return `$ sudo -u ${step.owner.user} rm -f ${shellQuote([step.path])}`;
      return `$ rm -f ${shellQuote([where(step.path)])}`;
    case 'copy': {
      const mode = step.mode.toString(8).padStart(4, '0');
      if (!step.files) return `$ install -m ${mode} ${shellQuote([step.from, where(step.path)])}`;
      return `$ install -m ${mode} -D -t ${shellQuote([where(step.path)])} ${step.files.map((f) => shellQuote([`${step.from}/${f}`])).join(' ')}`;
    }
    case 'write': {
      const at = step.owner ? `${step.path} as ${step.owner.user}` : where(step.path);
      const header = `# write ${at} (mode ${step.mode.toString(8).padStart(4, '0')})`;
      const patch = createTwoFilesPatch(step.before === null ? '/dev/null' : `a${step.path}`, `b${step.path}`, step.before ?? '', step.content, '', '', {
        context: 3,
      });
      return `${header}\n${patch.split('\n').slice(1).join('\n').trimEnd()}`;
    }
  }
}

export function renderPlan(plan: Plan, opts: RenderTarget): string {
  return plan.steps.map((s) => renderStep(s, opts)).join('\n');
}
