import { aliasOnLoopback, inSubnet } from '../../model/address.js';
import { HostaliasError } from '../../model/errors.js';
import { describeRoute, type LinkAddress, type RouteEntry } from './ip.js';
import { defaultFix, type FixCommand } from '../../model/invocation.js';
import { emptyPlan, planNote, type Plan, type PlanNote } from '../../model/steps.js';

export interface AliasTarget {
  ip: string;
  label: string;
}

export function aliasAddArgv(t: AliasTarget): string[] {
  return ['ip', 'addr', 'replace', `${t.ip}/32`, 'dev', 'lo', 'label', t.label];
}

export function aliasDelArgv(ip: string): string[] {
  return ['ip', 'addr', 'del', `${ip}/32`, 'dev', 'lo'];
}

/** The alias is on lo as a /32 in `ip -j addr` output (model/address.ts aliasOnLoopback decides). Pure. */
export function isAliasPresent(addrs: readonly LinkAddress[], ip: string): boolean {
  return aliasOnLoopback(
    addrs.filter((a) => a.family === 'inet').map((a) => ({ name: a.ifname, address: a.local, prefixlen: a.prefixlen })),
    ip,
  );
}

/** Why an address can't be the alias: on lo with a wider prefix, assigned to an interface, or inside its subnet. */
export type AliasConflictKind = 'wide-on-lo' | 'assigned' | 'in-subnet';

/** A `conflict` error that says which kind of conflict it is (doctor picks its fix by the kind). */
export class AliasConflictError extends HostaliasError {
  constructor(
    readonly kind: AliasConflictKind,
    message: string,
    fix: string,
  ) {
    super('conflict', message, fix);
  }
}

/** What it means that a route leads to `ip` today (the planner's warning and doctor's finding say it alike). Pure. */
export function routeShadowText(ip: string, route: string): string {
  return `${ip} is routed by "${route}" today; the alias will take this one address from that route (a VPN or LAN host at ${ip} becomes unreachable)`;
}

/**
 * Refuses an address the system already uses; warns (`alias-shadows-route`, data: ip, route,
 * dst) when the alias would shadow a route. Pure. Throws an AliasConflictError naming the
 * interface and the command that clears it.
 */
export function checkAliasConflicts(ip: string, addrs: readonly LinkAddress[], routes: readonly RouteEntry[], hostalias: FixCommand = defaultFix): PlanNote[] {
  for (const a of addrs) {
    if (a.family !== 'inet') continue;
    if (a.ifname === 'lo') {
      if (a.local === ip && a.prefixlen !== 32) {
        throw new AliasConflictError(
          'wide-on-lo',
          `${ip} is already on lo as /${a.prefixlen}, which makes the kernel treat the whole /${a.prefixlen} as local`,
          `sudo ip addr del ${ip}/${a.prefixlen} dev lo && ${hostalias('up')}`,
        );
      }
      continue;
    }
    if (a.local === ip) {
      throw new AliasConflictError('assigned', `${ip} is already assigned to ${a.ifname}`, `choose another address with --ip (for example 10.254.254.253)`);
    }
    if (a.prefixlen < 32 && inSubnet(ip, a.local, a.prefixlen)) {
      throw new AliasConflictError(
        'in-subnet',
        `${ip} is inside ${a.ifname}'s connected subnet ${a.local}/${a.prefixlen}; hosts on that network could not be told apart from the alias`,
        `choose an address outside ${a.local}/${a.prefixlen} with --ip`,
      );
    }
  }
  return routes
    .filter((r) => r.dst !== 'default' && r.dev !== 'lo' && r.type !== 'local')
    .map((r) =>
      planNote(
        'alias-shadows-route',
        `${routeShadowText(ip, describeRoute(r))}. If that matters: ${hostalias('up --ip ADDR')} with an address outside ${r.dst}`,
        {
          ip,
          route: describeRoute(r),
          dst: r.dst,
        },
      ),
    );
}

/**
 * Converges lo to hold `desired` as a /32 and no longer hold `previousIp`. Pure; idempotent:
 * with the alias present it returns no steps. `desired` null removes the previous alias.
 */
export function planAlias(desired: AliasTarget | null, previous: AliasTarget | null, addrs: readonly LinkAddress[]): Plan {
  const plan = emptyPlan();
  if (previous && previous.ip !== desired?.ip && isAliasPresent(addrs, previous.ip)) {
    plan.steps.push({ kind: 'run', argv: aliasDelArgv(previous.ip), undo: aliasAddArgv(previous), why: `remove the alias ${previous.ip} from lo` });
  }
  if (desired && !isAliasPresent(addrs, desired.ip)) {
    plan.steps.push({ kind: 'run', argv: aliasAddArgv(desired), undo: aliasDelArgv(desired.ip), why: `add the alias ${desired.ip}/32 to lo` });
  }
  const current = desired ? addrs.find((a) => a.ifname === 'lo' && a.local === desired.ip && a.prefixlen === 32) : undefined;
  // An unlabelled alias ("lo": NetworkManager adds it so at boot, having no label setting) is
  // left alone: relabelling would take the address away for a moment and gain nothing.
  if (desired && current?.label !== undefined && current.label !== 'lo' && current.label !== desired.label) {
    // `ip addr replace` keeps an existing address's label, so a new label needs delete + add.
    const old = { ip: desired.ip, label: current.label };
    plan.steps.push({ kind: 'run', argv: aliasDelArgv(desired.ip), undo: aliasAddArgv(old), why: `remove the alias ${desired.ip} labelled ${old.label}` });
    plan.steps.push({
      kind: 'run',
      argv: aliasAddArgv(desired),
      undo: aliasDelArgv(desired.ip),
      why: `add the alias ${desired.ip}/32 to lo labelled ${desired.label}`,
    });
  }
  return plan;
}
