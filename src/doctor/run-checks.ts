import { probeEngine } from '../docker/engine.js';
import { defaultDesired } from '../model/config.js';
import type { Context } from '../model/context.js';
import { describeCause, HostaliasError } from '../model/errors.js';
import type { Check, DoctorInput, Finding } from '../model/context.js';
import { fixCommandFor, type FixCommand } from '../model/invocation.js';
import { once } from '../model/once.js';
import type { State } from '../model/state.js';

/** The input every check reads, for a known state. Pure: the engine is asked on first use. */
export function doctorInputFor(ctx: Context, state: State | null): DoctorInput {
  return { ctx, state, desired: state?.desired ?? defaultDesired(), engine: once(() => probeEngine(ctx.runner)), hostalias: fixCommandFor(ctx) };
}

function crashFinding(id: string, err: unknown, hostalias: FixCommand): Finding {
  const fix = err instanceof HostaliasError && err.fix ? err.fix : `${hostalias(['doctor', '--json'], 'user')}  # and report this message as a bug`;
  return { id, status: 'fail', message: `the ${id} check crashed: ${describeCause(err)}`, fix };
}

/**
 * Runs the platform's checks (or `checks`) concurrently; a check that throws becomes one `fail`
 * finding with the check's id instead of stopping the others. Read-only.
 */
export async function runChecks(input: DoctorInput, checks: readonly Check[] = input.ctx.backend.doctor.checks): Promise<Finding[]> {
  const settled = await Promise.allSettled(checks.map((c) => c.run(input)));
  return settled.flatMap((s, i) => {
    const id = (checks[i] as Check).id;
    if (s.status === 'rejected') return [crashFinding(id, s.reason, input.hostalias)];
    return s.value.map((f) => ({ ...f, id }));
  });
}
