import type { Part } from '../../../model/part.js';
import { emptyPlan } from '../../../model/steps.js';
import { chooseFirewall } from './backend.js';
import { ENGINE_PROBE_TIMEOUT_MS } from '../../../docker/engine.js';
import { listContainerBridges } from '../../../docker/networks.js';
import type { Context } from '../../../model/context.js';
import { parseRecord, RECORD_PATH } from './route-localnet.js';
import { listLinks, observeFirewall, probeFirewall } from './observe.js';
import { planFirewall } from './plan.js';
import { classifyBridges, firewallSpec } from './spec.js';
import { kernelExposes } from '../../../model/expose.js';

/**
 * The engines' bridges, or — when an engine does not answer — those it reported last time (kept
 * in the firewall record), so a hung or stopped engine never turns a container network into a
 * "LAN" bridge and cuts its containers off the alias (issue 15). The warning says so.
 */
async function enginesOrLastKnown(ctx: Context, found: { ifaces: string[]; answered: boolean; reason: string }): Promise<{ ifaces: string[]; reason: string; warning: string | null }> {
  if (found.answered) return { ...found, warning: null };
  const record = parseRecord(await ctx.fs.read(RECORD_PATH), ctx.fs.resolve(RECORD_PATH));
  const kept = [...new Set([...found.ifaces, ...(record?.bridges ?? [])])].sort();
  if (kept.length === found.ifaces.length) return { ...found, warning: null };
  return {
    ifaces: kept,
    reason: `${found.reason}; keeping the bridges the engines reported last time: ${kept.join(', ')}`,
    warning: `a container engine did not answer, so the bridges it reported last time stay trusted (${kept.join(', ')}); run hostalias up again once it answers (${found.reason})`,
  };
}

/**
 * The LAN guard and exposed ports (issues 4 and 10): one nftables table (or iptables chains),
 * route_localnet, and the unit that restores them at boot. Container bridges are trusted by
 * kind, so nothing has to follow the engines' networks. Linux only.
 */
export const firewallPart: Part = {
  id: 'firewall',
  async plan(ctx, { desired, persistence, state }) {
    const wanted = desired && (desired.lanGuard || kernelExposes(desired.exposes).length > 0);
    const probes = await probeFirewall(ctx);
    // An image (--root) has no running interfaces or engine to ask.
    const links = ctx.live ? await listLinks(ctx) : [];
    const engines = wanted && ctx.live
      ? await enginesOrLastKnown(ctx, await listContainerBridges(ctx.runner, ENGINE_PROBE_TIMEOUT_MS))
      : { ifaces: [], reason: ctx.live ? '' : 'container bridges: none (--root: no running engine is asked)', warning: null };
    const classes = classifyBridges(links, engines.ifaces);
    const spec = firewallSpec(desired, classes, engines.ifaces);
    const decision = spec ? chooseFirewall(desired?.firewall ?? 'auto', probes) : null;
    const observed = await observeFirewall(ctx, probes, links);
    // The rules come back at boot through a systemd unit, so only when the alias itself is
    // persisted on a systemd system: with --persist none (or ifupdown without systemd) the alias
    // is gone after a reboot too, and the unit would load rules for an address that isn't there.
    const obs = { ...observed, systemdInstalled: observed.systemdInstalled && persistence !== null && persistence.kind !== 'ifupdown' };
    if (!spec && !obs.record && obs.nftListing === null && Object.keys(obs.iptables?.chains ?? {}).length === 0 && !Object.values(obs.files).some((f) => f !== null)) {
      return emptyPlan();
    }
    const backend = decision?.backend ?? obs.record?.backend ?? 'nftables';
    const plan = planFirewall(spec, backend, obs);
    if (engines.warning) plan.warnings.push(engines.warning);
    if (spec && plan.steps.length > 0) {
      plan.notes.push(`firewall: ${decision?.reason ?? backend}`, engines.reason);
      const lan = spec.lan.map((b) => `${b} (${classes.reasons[b] ?? 'LAN'})`);
      if (spec.guard) plan.notes.push(`lan guard: ${spec.ip} answers lo, every container bridge (now and created later)${spec.allowed.length ? `, ${spec.allowed.join(', ')}` : ''}; not ${lan.length ? lan.join(', ') : 'other interfaces'}${state?.desired.lanGuard !== true ? ' (turn off: hostalias up --no-lan-guard)' : ''}`);
    }
    return plan;
  },
};
