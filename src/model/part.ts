import type { Plan } from './steps.js';
import type { Desired } from './config.js';
import type { Context } from './context.js';
import type { InstalledPersistence, State } from './state.js';

/** What every part plans from: the wanted configuration (null for `down`) and what was installed. */
export interface PartInput {
  desired: Desired | null;
  /** The persistence backend chosen for `desired` (null when down or none). */
  persistence: InstalledPersistence | null;
  state: State | null;
}

/**
 * One independently reversible piece of the setup (alias, persistence, hosts file, daemon.json,
 * firewall, …). `plan` observes what it needs (read-only) and returns the steps that converge the
 * system to `input.desired`; with the system converged it returns no steps.
 */
export interface Part {
  id: string;
  plan(ctx: Context, input: PartInput): Promise<Plan>;
}
