/**
 * What read-only commands gather before they look: the recorded state (engine/state-store.ts)
 * joined with the host target (`run`, `flags`, `compose`) or doctor's input. Read-only.
 */
import { hostTargetFor, type LoadedTarget } from '../docker/target.js';
import { doctorInputFor } from '../doctor/run-checks.js';
import type { Context, DoctorInput } from '../model/context.js';
import { loadState } from './state-store.js';
import { fixCommandFor } from '../model/invocation.js';

/**
 * The alias and names recorded by `up` (the defaults when there is no setup), and whether the
 * alias is on lo right now. Read-only; needs no root.
 */
export async function loadHostTarget(ctx: Context): Promise<LoadedTarget> {
  return hostTargetFor(ctx, await loadState(ctx.fs, fixCommandFor(ctx)));
}

/** The input every check reads. Loading the state is the only thing that may fail here. */
export async function doctorInput(ctx: Context): Promise<DoctorInput> {
  return doctorInputFor(ctx, await loadState(ctx.fs, fixCommandFor(ctx)));
}
