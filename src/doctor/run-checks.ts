import { defaultDesired } from '../core/config.js';
import type { Context } from '../core/context.js';
import { loadState } from '../core/state.js';
import { describeCause, HostaliasError } from '../errors.js';
import { shellQuote } from '../exec/runner.js';
import { aliasCheck } from './check-alias.js';
import { daemonGatewayCheck } from './check-daemon-gateway.js';
import { dockerCheck } from './check-docker.js';
import { firewallCheck } from './check-firewall.js';
import { listenersCheck } from './check-listeners.js';
import { persistenceCheck } from './check-persistence.js';
import { routeConflictCheck } from './check-route-conflict.js';
import { dockerDesktopCheck } from '../platform/darwin/docker-desktop.js';
import { wslCheck } from '../platform/linux/wsl.js';
import { createFacts } from './facts.js';
import type { Check, DoctorInput, Finding } from './types.js';

/** Every check, in report order. */
export const CHECKS: readonly Check[] = [aliasCheck, persistenceCheck, routeConflictCheck, dockerCheck, dockerDesktopCheck, daemonGatewayCheck, firewallCheck, listenersCheck, wslCheck];

/** `sudo hostalias ARGS [--root DIR]`: fixes name the same target folder doctor looked at. */
export function hostaliasFix(ctx: Context): (args: string) => string {
  const root = ctx.fs.isRooted ? ` --root ${shellQuote([ctx.fs.root])}` : '';
  return (args) => `sudo hostalias ${args}${root}`;
}

/** The input every check reads. Loading the state is the only thing that may fail here. */
export async function doctorInput(ctx: Context): Promise<DoctorInput> {
  const state = await loadState(ctx.fs);
  return { ctx, state, desired: state?.desired ?? defaultDesired(), facts: createFacts(ctx), hostalias: hostaliasFix(ctx) };
}

function crashFinding(id: string, err: unknown): Finding {
  const fix = err instanceof HostaliasError && err.fix ? err.fix : 'hostalias doctor --json   (and report this message as a bug)';
  return { id, status: 'fail', message: `the ${id} check crashed: ${describeCause(err)}`, fix };
}

/**
 * Runs the checks concurrently; a check that throws becomes one `fail` finding with the check's id
 * instead of stopping the others. Read-only: nothing here changes the system.
 */
export async function runChecks(input: DoctorInput, checks: readonly Check[] = CHECKS): Promise<Finding[]> {
  const settled = await Promise.allSettled(checks.map((c) => c.run(input)));
  return settled.flatMap((s, i) => {
    const id = (checks[i] as Check).id;
    if (s.status === 'rejected') return [crashFinding(id, s.reason)];
    return s.value.map((f) => ({ ...f, id }));
  });
}
