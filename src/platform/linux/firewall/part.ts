import type { Part } from '../../../model/part.js';
import { emptyPlan } from '../../../model/steps.js';
import { chooseFirewall } from './backend.js';
import { ENGINE_PROBE_TIMEOUT_MS } from '../../../docker/engine.js';
import { bridgeIfaces, listBridges } from '../../../docker/networks.js';
import { observeFirewall, probeFirewall } from './observe.js';
import { planFirewall } from './plan.js';
import { firewallSpec } from './spec.js';

/**
 * The LAN guard and exposed ports (issue 4): one nftables table (or iptables chains), per-bridge
 * route_localnet, and the units that restore them at boot and follow Docker's networks.
 * Linux only; the macOS engineer adds pf.
 */
export const firewallPart: Part = {
  id: 'firewall',
  async plan(ctx, { desired, persistence, state }) {
    const wanted = desired && (desired.lanGuard || desired.exposes.length > 0);
    const probes = await probeFirewall(ctx);
    const docker = wanted ? await listBridges(ctx.runner, ENGINE_PROBE_TIMEOUT_MS) : { networks: [], reason: '' };
    const spec = firewallSpec(desired, bridgeIfaces(docker.networks));
    const decision = spec ? chooseFirewall(desired?.firewall ?? 'auto', probes) : null;
    const observed = await observeFirewall(ctx, probes, spec?.trusted ?? []);
    // The rules come back at boot through systemd units, so only when the alias itself is
    // persisted on a systemd system: with --persist none (or ifupdown without systemd) the alias
    // is gone after a reboot too, and units would load rules for an address that isn't there.
    const obs = { ...observed, systemdInstalled: observed.systemdInstalled && persistence !== null && persistence.kind !== 'ifupdown' };
    if (!spec && !obs.record && obs.nftListing === null && Object.keys(obs.iptables?.chains ?? {}).length === 0 && !Object.values(obs.files).some((f) => f !== null)) {
      return emptyPlan();
    }
    const backend = decision?.backend ?? obs.record?.backend ?? 'nftables';
    const plan = planFirewall(spec, backend, obs);
    if (spec && plan.steps.length > 0) {
      plan.notes.push(`firewall: ${decision?.reason ?? backend}`, docker.reason);
      if (spec.guard && state?.desired.lanGuard !== true) plan.notes.push(`lan guard: ${spec.ip} answers only lo${spec.trusted.length ? `, ${spec.trusted.join(', ')}` : ''} (turn off: hostalias up --no-lan-guard)`);
    }
    return plan;
  },
};
