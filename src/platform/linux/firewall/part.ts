import type { Part } from '../../../model/context.js';
import { emptyPlan, type Plan, planNote } from '../../../model/steps.js';
import { HostaliasError } from '../../../model/errors.js';
import { chooseFirewall } from './backend.js';
import { ENGINE_PROBE_TIMEOUT_MS } from '../../../docker/engine.js';
import { listContainerBridges } from '../../../docker/networks.js';
import type { Context } from '../../../model/context.js';
import { parseRecord, RECORD_PATH } from './route-localnet.js';
import { listLinks, observeFirewall, probeFirewall } from './observe.js';
import { planFirewall } from './plan.js';
import { classifyBridges, firewallSpec, hasKernelRules, type FirewallSpec } from './spec.js';
import { fixCommand, fixCommandFor, type FixCommand } from '../../../model/invocation.js';
import { kernelExposes } from '../../../model/expose.js';

/**
 * The engines' bridges, or — when an engine does not answer — those it reported last time (kept
 * in the firewall record), so a hung or stopped engine never turns a container network into a
 * "LAN" bridge and cuts its containers off the alias. The warning says so.
 */
async function enginesOrLastKnown(
  ctx: Context,
  found: { ifaces: string[]; answered: boolean; reason: string },
): Promise<{ ifaces: string[]; reason: string; warning: string | null }> {
  if (found.answered) return { ...found, warning: null };
  const record = parseRecord(await ctx.fs.read(RECORD_PATH), ctx.fs.resolve(RECORD_PATH));
  const kept = [...new Set([...found.ifaces, ...(record?.bridges ?? [])])].sort();
  if (kept.length === found.ifaces.length) return { ...found, warning: null };
  return {
    ifaces: kept,
    reason: `${found.reason}; keeping the bridges the engines reported last time: ${kept.join(', ')}`,
    warning: `a container engine did not answer, so the bridges it reported last time stay trusted (${kept.join(', ')}); run ${fixCommand(ctx, 'up')} again once it answers (${found.reason})`,
  };
}

/** The install command the no-packet-filter messages name (Debian and Ubuntu: the README's platforms). */
export const INSTALL_PACKET_FILTER = 'sudo apt-get install nftables';

/**
 * Neither nft nor iptables (a minimal Debian, a container image): the alias, its persistence and
 * the names still work, so `up` goes on without the LAN guard and says so, with the fix. Exposed
 * ports on kernel rules can't be had without one: refused, pointing at the userspace relay.
 */
function withoutPacketFilter(spec: FirewallSpec, hostalias: FixCommand): Plan {
  if (hasKernelRules(spec)) {
    const ports = [...spec.exposes.map((e) => `${e.port}/${e.proto}`), ...(spec.all ? ['every port (--all)'] : [])].join(', ');
    throw new HostaliasError(
      'unsupported',
      `exposing ${ports} needs a packet filter (DNAT rules), and neither nft nor iptables is installed`,
      `${INSTALL_PACKET_FILTER}, then run it again; or relay the port in userspace instead, no packet filter needed: ${hostalias(['forward', String(spec.exposes[0]?.port ?? 'PORT')], 'user')}`,
    );
  }
  const plan = emptyPlan();
  if (spec.guard) {
    plan.warnings.push(
      planNote(
        'lan-guard-off',
        `the LAN guard is off: neither nft nor iptables is installed, so a LAN host that routes ${spec.ip} to this machine reaches services listening on it (the alias itself works) — fix: ${INSTALL_PACKET_FILTER} && ${hostalias('up')}`,
        { ip: spec.ip, reason: 'no packet filter' },
      ),
    );
  }
  return plan;
}

/**
 * `expose --all` is written for nftables only (one rule whose port match is an anonymous set of
 * the ports kept out); the iptables rules carry ports exposed one by one.
 */
function refuseAllOnIptables(reason: string, nftInstalled: boolean, hostalias: FixCommand): never {
  const switchTo = nftInstalled
    ? `${hostalias(['expose', '--all', '--firewall', 'nftables'])} (nft is installed)`
    : `${INSTALL_PACKET_FILTER} (then hostalias picks it)`;
  throw new HostaliasError(
    'unsupported',
    `expose --all needs nftables, and the firewall here is ${reason}`,
    `${switchTo}, or expose the ports one by one: ${hostalias(['expose', 'PORT'])}`,
  );
}

/**
 * The LAN guard and exposed ports: one nftables table (or iptables chains),
 * route_localnet, and the unit that restores them at boot. Container bridges are trusted by
 * kind, so nothing has to follow the engines' networks. Linux only.
 */
export const firewallPart: Part = {
  id: 'firewall',
  async plan(ctx, { desired, persistence, state }) {
    const wanted = desired && (desired.lanGuard || kernelExposes(desired.exposes).length > 0 || desired.exposeAll !== undefined);
    const probes = await probeFirewall(ctx);
    // An image (--root) has no running interfaces or engine to ask.
    const links = ctx.live ? await listLinks(ctx) : [];
    const engines =
      wanted && ctx.live
        ? await enginesOrLastKnown(ctx, await listContainerBridges(ctx.runner, ENGINE_PROBE_TIMEOUT_MS))
        : { ifaces: [], reason: ctx.live ? '' : 'container bridges: none (--root: no running engine is asked)', warning: null };
    const classes = classifyBridges(links, engines.ifaces);
    const spec = firewallSpec(desired, classes, engines.ifaces);
    if (spec && !probes.nft && !probes.iptables && (desired?.firewall ?? 'auto') === 'auto') return withoutPacketFilter(spec, fixCommandFor(ctx));
    const decision = spec ? chooseFirewall(desired?.firewall ?? 'auto', probes, fixCommandFor(ctx)) : null;
    if (spec?.all && decision?.backend === 'iptables') refuseAllOnIptables(decision.reason, probes.nft, fixCommandFor(ctx));
    const observed = await observeFirewall(ctx, probes, links);
    // The rules come back at boot through a systemd unit, so only when the alias itself is
    // persisted on a systemd system: with --persist none (or ifupdown without systemd) the alias
    // is gone after a reboot too, and the unit would load rules for an address that isn't there.
    const noBootUnitReason = !observed.systemdInstalled
      ? `systemd is not installed here: nothing would start a unit${persistence?.kind === 'systemd' ? ', not even the alias unit --persist systemd wrote' : ''}`
      : persistence === null
        ? 'the alias is not persisted (--persist none), so it is gone after a reboot too'
        : persistence.kind === 'ifupdown'
          ? 'the alias is persisted by ifupdown, which starts no systemd unit'
          : undefined;
    const obs = { ...observed, systemdInstalled: noBootUnitReason === undefined, ...(noBootUnitReason ? { noBootUnitReason } : {}) };
    if (
      !spec &&
      !obs.record &&
      obs.nftListing === null &&
      Object.keys(obs.iptables?.chains ?? {}).length === 0 &&
      !Object.values(obs.files).some((f) => f !== null)
    ) {
      return emptyPlan();
    }
    const backend = decision?.backend ?? obs.record?.backend ?? 'nftables';
    const plan = planFirewall(spec, backend, obs, fixCommandFor(ctx));
    if (engines.warning) plan.warnings.push(planNote('container-bridges', engines.warning));
    if (spec && plan.steps.length > 0) {
      plan.notes.push(planNote('firewall', `firewall: ${decision?.reason ?? backend}`, { backend }), planNote('container-bridges', engines.reason));
      const lan = spec.lan.map((b) => `${b} (${classes.reasons[b] ?? 'LAN'})`);
      if (spec.guard)
        plan.notes.push(
          planNote(
            'lan-guard',
            `lan guard: ${spec.ip} answers lo, every container bridge (now and created later)${spec.allowed.length ? `, ${spec.allowed.join(', ')}` : ''}; not ${lan.length ? lan.join(', ') : 'other interfaces'}${state?.desired.lanGuard !== true ? ` (turn off: ${fixCommand(ctx, ['up', '--no-lan-guard'])})` : ''}`,
            { ip: spec.ip },
          ),
        );
    }
    return plan;
  },
};
