import type { Desired } from './config.js';
import type { Context } from './context.js';
import type { State } from './state.js';
import type { EngineProbe } from './engine.js';

export type FindingStatus = 'ok' | 'warn' | 'fail';

/**
 * One observation of `hostalias doctor`. `id` is the check that made it (stable: `alias`,
 * `persistence`, `route-conflict`, `docker`, `daemon-gateway`, `firewall`, `listeners`, `probe`);
 * `fix` is the exact command that resolves anything not ok.
 */
export interface Finding {
  id: string;
  status: FindingStatus;
  message: string;
  fix?: string;
}

/** What every check reads: the recorded setup and shared, memoised observations. */
export interface DoctorInput {
  ctx: Context;
  state: State | null;
  /** The recorded configuration, or the defaults when hostalias is not set up. */
  desired: Desired;
  /** The container engine as `docker` sees it, asked at most once per doctor run. */
  engine(): Promise<EngineProbe>;
  /** Prefix for fixes that run hostalias: `sudo hostalias` plus `--root DIR` when given. */
  hostalias(args: string): string;
}

/** A read-only diagnosis. Never changes the system; may throw (the runner turns that into a finding). */
export interface Check {
  id: string;
  run(input: DoctorInput): Promise<Finding[]>;
}

export function ok(id: string, message: string): Finding {
  return { id, status: 'ok', message };
}

export function warn(id: string, message: string, fix: string): Finding {
  return { id, status: 'warn', message, fix };
}

export function fail(id: string, message: string, fix: string): Finding {
  return { id, status: 'fail', message, fix };
}
