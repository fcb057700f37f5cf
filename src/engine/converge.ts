import { HostaliasError } from '../model/errors.js';
import type { PersistDecision } from '../model/backend.js';
import { mergePlans, type Plan, type Step } from '../model/steps.js';
import { applySteps } from './apply.js';
import { defaultDesired, type Desired, type ExposeSpec, type ForwardSpec, type PersistKind } from '../model/config.js';
import type { Context } from '../model/context.js';
import { withLock } from './lock.js';
import type { PartInput } from '../model/part.js';
import { loadState, saveState, STATE_PATH, type InstalledPersistence, type State } from '../model/state.js';

export interface ChangeOptions {
  dryRun?: boolean;
  /** The command line to suggest with sudo when not root, e.g. `hostalias up --ip 10.0.0.1`. */
  commandLine?: string;
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
export async function planChange(ctx: Context, desired: Desired | null, state: State | null, only?: readonly string[]): Promise<{ plan: Plan; input: PartInput; decision: PersistDecision | null }> {
  const persistence = await resolvePersistence(ctx, desired, state);
  const input: PartInput = { desired, persistence: persistence?.kind === 'none' ? null : persistence, state };
  const all = ctx.parts ?? ctx.backend.parts;
  const parts = only ? all.filter((p) => only.includes(p.id)) : all;
  const ordered = desired ? parts : [...parts].reverse();
  const plans: Plan[] = [];
  for (const part of ordered) plans.push(await part.plan(ctx, input));
  const plan = mergePlans(...plans);
  if (!ctx.live) leaveOutLiveSteps(plan);
  if (persistence?.kind === 'none') plan.notes.push(`persistence: ${persistence.reason}`);
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
  plan.notes.push(`--root writes files only: ${live.length} command(s) for a running system (${tools}) were left out`);
}

function requireRoot(ctx: Context, opts: ChangeOptions): void {
  if (ctx.previewOnly) {
    throw new HostaliasError('unsupported', `the ${ctx.backend.platform} plan can only be previewed on this machine`, 'add --dry-run');
  }
  if (!ctx.isRoot) {
    throw new HostaliasError('permission', 'changing the network configuration needs root', `sudo ${opts.commandLine ?? 'hostalias …'}`);
  }
}

/**
 * Converges the system to `change(state)`: plans every part, applies the plan (rolling back on
 * failure), then records the new state. Needs root unless `dryRun`. Idempotent.
 */
export async function converge(ctx: Context, change: (state: State | null) => Desired | null, opts: ChangeOptions = {}): Promise<ChangeResult> {
  const run = async (): Promise<ChangeResult> => {
    const previous = await loadState(ctx.fs);
    const desired = change(previous);
    const { plan, input, decision } = await planChange(ctx, desired, previous, opts.only);
    const next: State | null = desired
      ? { version: 1, desired, persistence: input.persistence, updatedAt: new Date().toISOString() }
      : null;
    if (opts.dryRun) return { plan, applied: false, skipped: [], state: next, previous, persistence: decision };
    const label = opts.label ?? (desired ? 'up' : 'down');
    const result = await applySteps(ctx, plan.steps, label, { teardown: desired === null });
    if (plan.steps.length > 0 || JSON.stringify(previous?.desired) !== JSON.stringify(next?.desired) || (previous === null) !== (next === null)) {
      await saveState(ctx.fs, next);
    }
    return { plan, applied: true, skipped: result.skipped, state: next, previous, persistence: decision };
  };
  if (opts.dryRun) return run();
  requireRoot(ctx, opts);
  return withLock(ctx.fs, run);
}

export function up(ctx: Context, changes: Partial<Desired>, opts: ChangeOptions = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => resolveDesired(state, changes), opts);
}

export function down(ctx: Context, opts: ChangeOptions = {}): Promise<ChangeResult> {
  return converge(ctx, () => null, opts);
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
  hostsFile: boolean;
  dockerDaemon: boolean;
  lanGuard: boolean;
  exposes: ExposeSpec[];
  /** Relays installed with `forward --install` (those of exposes via relay are in `exposes`). */
  forwards: ForwardSpec[];
  stateFile: string;
}

/** Reports the recorded setup and whether the alias is live. Read-only; needs no root. */
export async function status(ctx: Context, opts: { ip?: string } = {}): Promise<StatusReport> {
  const state = await loadState(ctx.fs);
  const desired = state?.desired ?? resolveDesired(null, opts.ip ? { ip: opts.ip } : {});
  const ip = opts.ip ?? desired.ip;
  return {
    ip,
    present: await ctx.backend.aliasPresent(ctx, ip),
    configured: state !== null,
    label: desired.label,
    persistence: state?.persistence?.kind ?? null,
    persistenceReason: state?.persistence?.reason ?? null,
    names: desired.names,
    hostsFile: desired.hostsFile,
    dockerDaemon: desired.dockerDaemon,
    lanGuard: desired.lanGuard,
    exposes: desired.exposes,
    forwards: desired.forwards,
    stateFile: ctx.fs.resolve(STATE_PATH),
  };
}
