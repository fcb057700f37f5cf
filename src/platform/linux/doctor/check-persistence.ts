import { HostaliasError } from '../../../model/errors.js';
import type { Step } from '../../../model/steps.js';
import { planPersistence } from '../persistence.js';
import { observePersistence } from '../observe.js';
import { fail, ok, warn } from '../../../model/finding.js';
import type { Check, Finding } from '../../../model/context.js';

/**
 * `persistence`: what `up` installed for boot is still there and byte-identical to what the planner
 * would write now (so the alias comes back after a reboot). Reuses the persistence planner: any step
 * it would take is a finding.
 */
export const persistenceCheck: Check = {
  id: 'persistence',
  async run({ ctx, state, desired, hostalias }) {
    const up = hostalias('up');
    if (!state) return [warn('persistence', 'nothing is persisted: hostalias is not set up', up)];
    const installed = state.persistence;
    if (!installed) {
      return [
        warn(
          'persistence',
          `the alias is not persisted and disappears at the next reboot (${desired.persist === 'none' ? 'chosen with --persist none' : 'no supported boot mechanism was found'})`,
          hostalias('up --persist systemd'),
        ),
      ];
    }
    const target = { ...installed, ip: desired.ip, label: desired.label };
    let steps: Step[];
    try {
      steps = planPersistence(target, installed, await observePersistence(ctx)).steps;
    } catch (err) {
      if (err instanceof HostaliasError) return [fail('persistence', err.message, err.fix ?? up)];
      throw err;
    }
    const findings: Finding[] = [];
    for (const step of steps) {
      if (step.kind === 'write') {
        const what = step.before === null ? `${step.path} is missing` : `${step.path} differs from what hostalias writes (edited by hand?)`;
        findings.push(fail('persistence', `${what}: the alias would not come back at boot as configured`, up));
      } else if (step.kind === 'symlink') {
        findings.push(fail('persistence', `${step.path} is missing: the ${installed.kind} unit is not enabled, so it does not run at boot`, up));
      }
    }
    if (findings.length > 0) return findings;
    return [ok('persistence', `${installed.kind}: installed and intact (${installed.reason})`)];
  },
};
