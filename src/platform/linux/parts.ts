import type { Part } from '../../model/context.js';
import { dockerDaemonPart } from '../../docker/daemon-part.js';
import { checkAliasConflicts, planAlias } from './alias.js';
import { hostsFilePart } from '../../parts/hosts-file.js';
import { planPersistence } from './persistence.js';
import { emptyPlan, planNote } from '../../model/steps.js';
import { listAddresses, routesMatching } from './ip.js';
import { observePersistence } from './observe.js';
import { forwardServicesPart } from './forward-units-part.js';
import { firewallPart } from './firewall/part.js';
import { wslNotesPart } from './wsl.js';
import { fixCommandFor } from '../../model/invocation.js';
import { runtimeCopyPart } from '../../parts/runtime-copy.js';
import { dnsUnitPart } from './dns-unit.js';
import { dnsEnginesPart } from '../../docker/dns-engines.js';

export const aliasPart: Part = {
  id: 'alias',
  async plan(ctx, { desired, state }) {
    // An image (--root) has no running kernel to add the alias to: its persistence adds it at boot.
    if (!ctx.live) return emptyPlan();
    const addrs = await listAddresses(ctx.runner);
    const previous = state ? { ip: state.desired.ip, label: state.desired.label } : null;
    const warnings = desired ? checkAliasConflicts(desired.ip, addrs, await routesMatching(ctx.runner, desired.ip), fixCommandFor(ctx)) : [];
    const plan = planAlias(desired ? { ip: desired.ip, label: desired.label } : null, previous, addrs);
    return { ...plan, warnings: [...plan.warnings, ...warnings] };
  },
};

export const persistencePart: Part = {
  id: 'persistence',
  async plan(ctx, { persistence, state }) {
    if (!persistence && !state?.persistence) return emptyPlan();
    const plan = planPersistence(persistence, state?.persistence ?? null, await observePersistence(ctx));
    if (persistence && plan.steps.length > 0)
      plan.notes.push(planNote('persistence', `persistence: ${persistence.reason}`, { kind: persistence.kind, reason: persistence.reason }));
    return plan;
  },
};

/** Parts in the order `up` applies them; `down` plans them in reverse. */
export const linuxParts: readonly Part[] = [
  aliasPart,
  persistencePart,
  hostsFilePart,
  dockerDaemonPart,
  dnsEnginesPart,
  runtimeCopyPart,
  forwardServicesPart,
  dnsUnitPart,
  firewallPart,
  wslNotesPart,
];
