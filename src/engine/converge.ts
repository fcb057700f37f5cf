import { posix } from 'node:path';
import { HostaliasError, isNoSpace } from '../model/errors.js';
import type { PersistDecision } from '../model/context.js';
import { mergePlans, planNote, type Plan, type PlanNote, type Step } from '../model/steps.js';
import { applySteps, describeStep } from './apply.js';
import { defaultDesired, type Desired, type ExposeSpec, type ForwardSpec, type PersistKind } from '../model/config.js';
import type { Context } from '../model/context.js';
import { keptOut } from '../model/expose.js';
import { withLock } from './lock.js';
import { DEFAULT_INVOCATION, fixCommand, fixCommandFor, hostaliasLine } from '../model/invocation.js';
import { namesForEngine } from '../docker/target.js';
import { bundleDataPath, type DataPath } from '../forward/native-relay.js';
import { RUNTIME_CURRENT } from '../exec/runtime.js';
import { managedForwards } from '../model/expose.js';
import type { PartInput } from '../model/context.js';
import { CorruptStateError, BACKUP_DIR, STATE_DIR, STATE_PATH, type InstalledPersistence, type State } from '../model/state.js';
import { INTENT_PATH, type Intent } from '../model/intent.js';
import { clearIntent, loadIntent, loadState, saveIntent, saveState } from './state-store.js';
import { LenientFs } from '../fs/lenient-fs.js';
import { NEEDS_ROOT_OUTPUT } from '../exec/runner.js';
import type { Runner } from '../model/runner.js';
import { DEFAULT_IP } from '../model/address.js';
import { shellQuote } from '../model/shell.js';

export interface ChangeOptions {
  dryRun?: boolean;
  /** The command's arguments as typed (`up --ip 10.0.0.1`): the fix when it is run without root. */
  args?: readonly string[];
  /** Plan only the parts with these ids (`refresh` touches only the firewall). */
  only?: readonly string[];
  /** The journal's name for this change (default `up` or `down`). */
  label?: string;
}

export interface ChangeResult {
  plan: Plan;
  /** False for --dry-run. */
  applied: boolean;
  /** Service-manager steps not run because the target is a --root folder. */
  skipped: Step[];
  state: State | null;
  previous: State | null;
  /** How the alias is persisted and why (`--verbose` shows it); null for `down`. */
  persistence: PersistDecision | null;
}

/** The configuration `up` converges to: defaults, then what is installed, then the caller's changes. */
export function resolveDesired(state: State | null, changes: Partial<Desired>): Desired {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<Desired>;
  return { ...defaultDesired(), ...state?.desired, ...defined };
}

async function resolvePersistence(ctx: Context, desired: Desired | null, state: State | null): Promise<InstalledPersistence | null> {
  if (!desired) return null;
  const previous = state?.persistence;
  // Keep what `auto` chose last time: re-detecting after the system changed must not silently
  // move the boot config; the user moves it with an explicit --persist.
  if (desired.persist === 'auto' && previous) return { ...previous, ip: desired.ip, label: desired.label };
  const decision = await ctx.backend.decidePersistence(ctx, desired.persist);
  return { ...decision, ip: desired.ip, label: desired.label };
}

/** Observes and plans every part. Read-only. `desired` null plans `down`. */
export async function planChange(
  ctx: Context,
  desired: Desired | null,
  state: State | null,
  only?: readonly string[],
  decided?: InstalledPersistence | null,
): Promise<{ plan: Plan; input: PartInput; decision: PersistDecision | null }> {
  const persistence = decided !== undefined ? decided : await resolvePersistence(ctx, desired, state);
  const input: PartInput = { desired, persistence: persistence?.kind === 'none' ? null : persistence, state };
  const all = ctx.parts ?? ctx.backend.parts;
  const parts = only ? all.filter((p) => only.includes(p.id)) : all;
  const ordered = desired ? parts : [...parts].reverse();
  const plans: Plan[] = [];
  for (const part of ordered) plans.push(await part.plan(ctx, input));
  const plan = mergePlans(...plans);
  if (!ctx.live) leaveOutLiveSteps(plan);
  if (persistence?.kind === 'none')
    plan.notes.push(planNote('persistence', `persistence: ${persistence.reason}`, { kind: 'none', reason: persistence.reason }));
  const kept = desired?.persist === 'auto' && state?.persistence ? ' (kept from the last up; change it with --persist)' : '';
  return { plan, input, decision: persistence ? { kind: persistence.kind, reason: `${persistence.reason}${kept}` } : null };
}

/**
 * `--root` prepares an image: commands for a running system are left out of the plan (so planning
 * again still converges), and a note says which; the files written bring them back at boot.
 */
function leaveOutLiveSteps(plan: Plan): void {
  const live = plan.steps.filter((s) => s.kind === 'run');
  if (live.length === 0) return;
  plan.steps = plan.steps.filter((s) => s.kind !== 'run');
  const tools = [...new Set(live.map((s) => (s.kind === 'run' ? s.argv[0] : '')))].join(', ');
  plan.notes.push(
    planNote('root-files-only', `--root writes files only: ${live.length} command(s) for a running system (${tools}) were left out`, {
      leftOut: live.length,
      tools,
    }),
  );
}

function requireRoot(ctx: Context, opts: ChangeOptions): void {
  if (ctx.previewOnly) {
    throw new HostaliasError('unsupported', `the ${ctx.backend.platform} plan can only be previewed on this machine`, 'add --dry-run');
  }
  if (!ctx.isRoot) {
    const fix = hostaliasLine(ctx.invocation ?? DEFAULT_INVOCATION, opts.args ?? ['…'], 'root');
    throw new HostaliasError('permission', 'changing the network configuration needs root', fix, { needsRoot: true });
  }
}

/** Directories a plan writes in (its temp files live there after a crash). */
function planDirs(steps: readonly Step[]): string[] {
  // A user's own files are not swept (root never touches a user's folder).
  const paths = steps.flatMap((s) => (s.kind === 'run' ? (s.capture ? [s.capture.path] : []) : 'owner' in s && s.owner ? [] : [s.path]));
  return [...new Set(paths.map((p) => posix.dirname(p)))].sort();
}

/**
 * Applies `plan` with its intent recorded first (fsynced), the state recorded as part of the
 * change, and the record removed once the change is complete or cleanly rolled back. A run killed
 * at any point leaves the record, which the next run reads.
 */
async function applyRecorded(
  ctx: Context,
  plan: Plan,
  label: string,
  previous: State | null,
  next: State | null,
  save: boolean,
  also: State[] = [],
): Promise<Step[]> {
  if (plan.steps.length === 0 && !save) return [];
  const intent: Intent = {
    version: 1,
    label,
    startedAt: new Date().toISOString(),
    pid: process.pid,
    previous,
    next,
    also,
    dirs: planDirs(plan.steps),
    steps: plan.steps.map(describeStep),
  };
  let warned = false;
  const record = async (what: Intent) => {
    try {
      await saveIntent(ctx.fs, what);
    } catch (err) {
      // `down` must work on a full disk (removing is what frees it), and needs no record to be
      // resumed: state.json, removed only once every step is done, drives the next run (and
      // without it, hostalias's markers do); a record left from before names more, not less.
      if (next !== null || !isNoSpace(err)) throw err;
      if (!warned)
        plan.warnings.push(
          planNote(
            'intent-not-recorded',
            `${ctx.fs.resolve(INTENT_PATH)} could not be written (no space left); going on without it: if this run is interrupted, run down again`,
            { path: ctx.fs.resolve(INTENT_PATH) },
          ),
        );
      warned = true;
    }
  };
  if (plan.steps.length > 0) await record(intent);
  const result = await applySteps(ctx, plan.steps, label, {
    teardown: next === null,
    commit: async () => {
      await saveState(ctx.fs, next);
      // States still to clear up stay on record until their own round is done.
      if (also.length > 0) await record({ ...intent, previous: next, steps: [] });
      else await clearIntent(ctx.fs);
    },
    rolledBack: async (clean) => {
      if (clean && also.length === 0) await clearIntent(ctx.fs);
    },
  });
  return result.skipped;
}

/**
 * What an interrupted change may have left installed: the states on either side of it and those
 * it was itself still clearing up, most recent first (the one it converged to leads). Pure.
 */
function interruptedStates(intent: Intent | 'unknown' | null, previous: State | null): State[] {
  const all = intent && intent !== 'unknown' ? [intent.next, intent.previous, ...(intent.also ?? []), previous] : [previous];
  return uniqueStates(all.filter((s): s is State => s !== null));
}

/** `states` without repeats (same desired and persistence), first occurrence kept. Pure. */
function uniqueStates(states: readonly State[]): State[] {
  return states.filter((c, i) => states.findIndex((d) => sameState(c, d)) === i);
}

/** The states after round `i`: what a change still has to clear up once that round is done. Pure. */
function laterStates(rounds: ReadonlyArray<State | null>, i: number): State[] {
  return rounds.slice(i + 1).filter((r): r is State => r !== null);
}

/** Removes temp files an interrupted change may have left in the directories it wrote in. */
async function sweepAfterCrash(ctx: Context, intent: Intent | 'unknown'): Promise<void> {
  const dirs = new Set([...(intent === 'unknown' ? [] : intent.dirs), STATE_DIR, BACKUP_DIR]);
  for (const dir of dirs) await ctx.fs.sweepTemps(dir);
}

function sameState(a: State, b: State): boolean {
  return JSON.stringify([a.desired, a.persistence]) === JSON.stringify([b.desired, b.persistence]);
}

/**
 * `down`: tears down what the state says — and, when the last change was interrupted, what
 * either side of it could have installed; when state.json is missing or unreadable, what
 * hostalias's own markers show (Backend.discover). Each candidate is planned and torn down in
 * turn (teardown of something already gone is a no-op), so "already down" means none of it exists.
 */
async function convergeDown(
  ctx: Context,
  previous: State | null,
  unreadable: CorruptStateError | null,
  intent: Intent | 'unknown' | null,
  opts: ChangeOptions,
): Promise<ChangeResult> {
  const label = opts.label ?? 'down';
  const notes: PlanNote[] = [];
  const candidates = interruptedStates(intent, previous);
  if (intent && intent !== 'unknown') {
    notes.push(
      planNote(
        'interrupted-change',
        `the last change (\`${intent.label}\`, started ${intent.startedAt}) was interrupted: removing what it could have installed (${ctx.fs.resolve(INTENT_PATH)})`,
        { label: intent.label, startedAt: intent.startedAt },
      ),
    );
  }
  if (previous === null) {
    const found = await ctx.backend.discover(ctx);
    candidates.push(...found.states);
    const why = unreadable
      ? `${ctx.fs.resolve(STATE_PATH)} is unreadable`
      : intent === 'unknown'
        ? `${ctx.fs.resolve(INTENT_PATH)} is unreadable`
        : `${ctx.fs.resolve(STATE_PATH)} is missing`;
    if (found.found.length > 0)
      notes.push(planNote('recovered-from-markers', `${why}: recovered from hostalias's markers, removing ${found.found.join('; ')}`));
  }
  const unique = uniqueStates(candidates);
  const rounds: Array<State | null> = unique.length > 0 ? unique : [null];
  const plans: Plan[] = [];
  const skipped: Step[] = [];
  for (const [i, state] of rounds.entries()) {
    const { plan } = await planChange(ctx, null, state, opts.only);
    plans.push(plan);
    if (opts.dryRun) continue;
    const last = i === rounds.length - 1;
    const save = last && (previous !== null || unreadable !== null || intent !== null);
    skipped.push(...(await applyRecorded(ctx, plan, label, state, null, save, laterStates(rounds, i))));
  }
  if (!opts.dryRun && intent) await sweepAfterCrash(ctx, intent);
  const plan = mergePlans(...plans);
  plan.notes.unshift(...notes);
  return { plan, applied: !opts.dryRun, skipped, state: null, previous, persistence: null };
}

/**
 * `up` (or any change) after an interrupted one: converges to `desired` once from each state the
 * interrupted change may have left installed (see interruptedStates), most recent first. The
 * first round finishes or undoes the interrupted change; each later one, planned against the
 * system the earlier rounds converged, removes only what that older state installed and
 * `desired` doesn't want (a persistence kind or an alias address the change was moving away
 * from). The record keeps the states not yet cleared, so a kill in any round loses none.
 */
function convergeAfterCrash(ctx: Context, desired: Desired, previous: State | null, intent: Intent | 'unknown', opts: ChangeOptions): Promise<ChangeResult> {
  const states = interruptedStates(intent, previous);
  const rounds = Math.max(states.length, 1);
  const note = planNote(
    'interrupted-change',
    intent === 'unknown'
      ? `${ctx.fs.resolve(INTENT_PATH)} was unreadable: an earlier change may have been interrupted; if \`up\` leaves something behind, run ${fixCommand(ctx, 'down')}`
      : `the last change (\`${intent.label}\`, started ${intent.startedAt}) was interrupted: this run finishes or undoes it${rounds > 1 ? `, and removes what ${rounds - 1} earlier configuration(s) installed that this one doesn't want` : ''}`,
    intent === 'unknown' ? { record: 'unreadable' } : { label: intent.label, startedAt: intent.startedAt, rounds },
  );
  return convergeFrom(ctx, desired, previous, states, note, opts, () => sweepAfterCrash(ctx, intent));
}

/**
 * `up` (or any change) with no state.json: what hostalias's markers show installed
 * (Backend.discover, as `down` uses) is converged from, one found state per round, so an alias
 * address, a hosts block or a daemon.json setting of a lost state is taken over or removed
 * instead of being left for ever (a later `down` is driven by the new state alone). Null when the
 * markers show nothing: a plain first `up`.
 */
async function convergeDiscovered(ctx: Context, desired: Desired, opts: ChangeOptions): Promise<ChangeResult | null> {
  const found = await ctx.backend.discover(ctx);
  if (found.states.length === 0) return null;
  const note = planNote(
    'recovered-from-markers',
    `${ctx.fs.resolve(STATE_PATH)} is missing, but hostalias's markers show ${found.found.join('; ')}: this run takes them over or removes them`,
    { found: found.found.length },
  );
  return convergeFrom(ctx, desired, null, uniqueStates(found.states), note, opts, async () => undefined);
}

/**
 * Converges to `desired` once from each of `states` in turn (what may be installed, most recent
 * first): the first round plans against the first state; each later one, planned against the
 * system the earlier rounds converged, removes only what that state installed and `desired`
 * doesn't want. The record keeps the states not yet cleared, so a kill in any round loses none.
 */
async function convergeFrom(
  ctx: Context,
  desired: Desired,
  previous: State | null,
  states: State[],
  note: PlanNote,
  opts: ChangeOptions,
  finish: () => Promise<void>,
): Promise<ChangeResult> {
  const rounds: Array<State | null> = states.length > 0 ? states : [null];
  const first = await planChange(ctx, desired, rounds[0] ?? null, opts.only);
  const next: State = { version: 1, desired, persistence: first.input.persistence, updatedAt: new Date().toISOString() };
  if (opts.dryRun) {
    // Later rounds are planned against the system as it is now: their steps not already in the first round.
    const seen = new Set(first.plan.steps.map((st) => JSON.stringify(st)));
    const later: Plan[] = [];
    for (const state of rounds.slice(1)) {
      const { plan } = await planChange(ctx, desired, state, opts.only, first.input.persistence);
      later.push({ ...plan, steps: plan.steps.filter((st) => !seen.has(JSON.stringify(st))) });
    }
    const plan = mergePlans(first.plan, ...later);
    plan.notes.unshift(note);
    return { plan, applied: false, skipped: [], state: next, previous, persistence: first.decision };
  }
  const label = opts.label ?? 'up';
  const plans: Plan[] = [first.plan];
  const skipped = await applyRecorded(ctx, first.plan, label, rounds[0] ?? null, next, true, laterStates(rounds, 0));
  for (let i = 1; i < rounds.length; i++) {
    const { plan } = await planChange(ctx, desired, rounds[i] ?? null, opts.only, first.input.persistence);
    plans.push(plan);
    skipped.push(...(await applyRecorded(ctx, plan, label, rounds[i] ?? null, next, true, laterStates(rounds, i))));
  }
  await finish();
  const plan = mergePlans(...plans);
  plan.notes.unshift(note);
  return { plan, applied: true, skipped, state: next, previous, persistence: first.decision };
}

/**
 * Converges the system to `change(state)`: plans every part, records the intent, applies the plan
 * (rolling back on any failure) and records the new state as part of it. A change interrupted
 * earlier is finished or undone first (see Intent). Needs root unless `dryRun`. Idempotent.
 */
export async function converge(ctx: Context, change: (state: State | null) => Desired | null, opts: ChangeOptions = {}): Promise<ChangeResult> {
  const run = async (ctx: Context): Promise<ChangeResult> => {
    const intent = await loadIntent(ctx.fs);
    let previous: State | null = null;
    let unreadable: CorruptStateError | null = null;
    try {
      previous = await loadState(ctx.fs, fixCommandFor(ctx));
    } catch (err) {
      if (!(err instanceof CorruptStateError)) throw err;
      unreadable = err;
    }
    const desired = change(previous);
    if (desired === null) return convergeDown(ctx, previous, unreadable, intent, opts);
    if (unreadable) throw unreadable;
    if (intent) return convergeAfterCrash(ctx, desired, previous, intent, opts);
    if (previous === null) {
      const discovered = await convergeDiscovered(ctx, desired, opts);
      if (discovered) return discovered;
    }
    const { plan, input, decision } = await planChange(ctx, desired, previous, opts.only);
    const next: State = { version: 1, desired, persistence: input.persistence, updatedAt: new Date().toISOString() };
    if (opts.dryRun) return { plan, applied: false, skipped: [], state: next, previous, persistence: decision };
    const save = plan.steps.length > 0 || JSON.stringify(previous?.desired) !== JSON.stringify(next.desired) || previous === null;
    const skipped = await applyRecorded(ctx, plan, opts.label ?? 'up', previous, next, save);
    return { plan, applied: true, skipped, state: next, previous, persistence: decision };
  };
  if (opts.dryRun) return ctx.isRoot || ctx.previewOnly ? run(ctx) : dryRunWithoutRoot(ctx, opts, run);
  requireRoot(ctx, opts);
  return withLock(ctx.fs, () => run(ctx));
}

/**
 * A dry run by a user who is not root: it plans from what it can read. A file only root may read
 * reads as absent, a command that needs root (nft list, iptables-save) as empty, and the plan
 * says which, with the command that plans from everything.
 */
async function dryRunWithoutRoot(ctx: Context, opts: ChangeOptions, run: (ctx: Context) => Promise<ChangeResult>): Promise<ChangeResult> {
  const denied = new Set<string>();
  const runner: Runner = {
    run: async (argv, o) => {
      const res = await ctx.runner.run(argv, o);
      if (res.code !== 0 && NEEDS_ROOT_OUTPUT.test(res.stderr || res.stdout)) denied.add(`\`${shellQuote(argv)}\``);
      return res;
    },
  };
  const res = await run({ ...ctx, fs: new LenientFs(ctx.fs.root, denied), runner });
  if (denied.size > 0) {
    const exact = hostaliasLine(ctx.invocation ?? DEFAULT_INVOCATION, opts.args ?? ['…'], 'root');
    res.plan.notes.push(
      planNote(
        'not-root',
        `not root: could not read ${[...denied].join(', ')} (root only), so this plan takes them as absent or empty; the exact plan: ${exact}`,
        { unread: [...denied].join('\n'), exact },
      ),
    );
  }
  return res;
}

export function up(ctx: Context, changes: Partial<Desired>, opts: ChangeOptions = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => resolveDesired(state, changes), opts);
}

/**
 * `down`: removes everything hostalias installed (see convergeDown), then says what it leaves: the
 * `hostalias forward` relays started by hand that still listen on the alias (pid, port, how to
 * stop them).
 */
export async function down(ctx: Context, opts: ChangeOptions = {}): Promise<ChangeResult> {
  const res = await converge(ctx, () => null, opts);
  if (!ctx.live || !ctx.backend.relaysOn) return res;
  const ip = res.previous?.desired.ip ?? DEFAULT_IP;
  for (const r of await ctx.backend.relaysOn(ip)) {
    res.plan.notes.push(
      planNote(
        'relay-left',
        `still listening on ${ip}:${r.port}/${r.proto}: \`${shellQuote(['hostalias', ...r.argv.slice(r.argv.indexOf('forward'))])}\` (pid ${r.pid}), a relay down does not stop: stop it with kill ${r.pid} (or Ctrl-C in its terminal)`,
        { ip, port: r.port, proto: r.proto, pid: r.pid },
      ),
    );
  }
  return res;
}

export interface StatusReport {
  ip: string;
  /** The alias is on the loopback right now. */
  present: boolean;
  /** hostalias has a recorded setup (state file exists). */
  configured: boolean;
  label: string;
  persistence: PersistKind | null;
  persistenceReason: string | null;
  names: string[];
  /** The names `run`, `flags` and `compose` give containers with the engine that answers now. */
  containerNames: string[];
  /** Why a name is left out for this engine (Desktop/OrbStack keep host.docker.internal), or null. */
  namesNote: string | null;
  hostsFile: boolean;
  dockerDaemon: boolean;
  lanGuard: boolean;
  exposes: ExposeSpec[];
  /** `expose --all`: on, and the ports it keeps out (the defaults, --except, hostalias's own relays); null when off. */
  exposeAll: { except: number[]; keptOut: number[] } | null;
  /** Relays installed with `forward --install` (those of exposes via relay are in `exposes`). */
  forwards: ForwardSpec[];
  /** Every relay service (forwards and exposes via relay), with the data path it copies bytes on. */
  relays: Array<{ port: number; proto: 'tcp' | 'udp' } & DataPath>;
  stateFile: string;
}

/**
 * The data path of a relay service: TCP relays run the C data path where the installed copy's
 * addon for this arch loads (the services run that copy), UDP relays copy in JavaScript.
 * Loads the addon file (read-only; no thread starts).
 */
function serviceDataPath(ctx: Context, proto: 'tcp' | 'udp', copy: () => DataPath): DataPath {
  if (ctx.backend.platform !== 'linux') return { dataPath: 'js', why: 'the C data path is Linux-only' };
  if (proto === 'udp') return { dataPath: 'js', why: 'UDP relays copy in JavaScript (the C data path carries TCP)' };
  return copy();
}

/** Reports the recorded setup and whether the alias is live. Read-only; needs no root. */
export async function status(ctx: Context, opts: { ip?: string } = {}): Promise<StatusReport> {
  const state = await loadState(ctx.fs, fixCommandFor(ctx));
  const desired = state?.desired ?? resolveDesired(null, opts.ip ? { ip: opts.ip } : {});
  const ip = opts.ip ?? desired.ip;
  // Two independent questions (the engine is asked with a bound): ask them at once.
  const [forEngine, present] = await Promise.all([namesForEngine(ctx, desired.names), ctx.backend.aliasPresent(ctx, ip)]);
  const relays = state === null ? [] : managedForwards(desired);
  let installed: DataPath | undefined;
  const copy = () => (installed ??= bundleDataPath(ctx.fs.resolve(RUNTIME_CURRENT)));
  return {
    ip,
    present,
    configured: state !== null,
    label: desired.label,
    persistence: state?.persistence?.kind ?? null,
    persistenceReason: state?.persistence?.reason ?? null,
    names: desired.names,
    containerNames: forEngine.names,
    namesNote: forEngine.note,
    hostsFile: desired.hostsFile,
    dockerDaemon: desired.dockerDaemon,
    // Not configured (never up, or after down): no guard, whatever the defaults would be.
    lanGuard: state !== null && desired.lanGuard,
    exposes: desired.exposes,
    exposeAll: state?.desired.exposeAll ? { except: state.desired.exposeAll.except, keptOut: keptOut(state.desired) } : null,
    forwards: desired.forwards,
    relays: relays.map((r) => ({ port: r.port, proto: r.proto, ...serviceDataPath(ctx, r.proto, copy) })),
    stateFile: ctx.fs.resolve(STATE_PATH),
  };
}
