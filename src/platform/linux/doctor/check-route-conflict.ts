import { inCidr, inSubnet } from '../../../model/address.js';
import { AliasConflictError, checkAliasConflicts, routeShadowText } from '../alias.js';
import type { PlanNote } from '../../../model/steps.js';
import type { LinkAddress, RouteEntry } from '../ip.js';
import { fail, ok, warn } from '../../../model/finding.js';
import type { Check } from '../../../model/context.js';
import { linuxFacts } from './facts.js';

/** Private addresses tried in order when the alias has to move; far from the usual LAN/VPN ranges. */
const CANDIDATES = ['10.254.254.254', '10.253.253.253', '10.199.254.254', '172.29.254.254', '192.168.254.254'];

/** The first candidate no interface subnet or route covers (other than `current`). Pure. */
export function suggestFreeAddress(current: string, addrs: readonly LinkAddress[], routes: readonly RouteEntry[]): string | null {
  for (const ip of CANDIDATES) {
    if (ip === current) continue;
    const taken = addrs.some((a) => a.family === 'inet' && (a.local === ip || (a.ifname !== 'lo' && a.prefixlen < 32 && inSubnet(ip, a.local, a.prefixlen))));
    if (!taken && !routes.some((r) => inCidr(ip, r.dst))) return ip;
  }
  return null;
}

/** `route-conflict`: the alias sits in another interface's subnet, or takes an address a route (VPN, LAN) leads to. */
export const routeConflictCheck: Check = {
  id: 'route-conflict',
  async run(input) {
    const { desired, hostalias } = input;
    const facts = linuxFacts(input);
    const ip = desired.ip;
    const [addrs, routes] = await Promise.all([facts.addresses(), facts.routesTo(ip)]);
    const move = async (): Promise<string> => {
      const free = suggestFreeAddress(ip, addrs, await facts.allRoutes());
      return free ? hostalias(`up --ip ${free}`) : `${hostalias('up --ip ADDR')}  # an address no interface or route uses`;
    };
    let warnings: PlanNote[];
    try {
      warnings = checkAliasConflicts(ip, addrs, routes, hostalias);
    } catch (err) {
      if (err instanceof AliasConflictError) {
        // A wider prefix on lo is cleared by the planner's own fix (ip addr del, then up); moving the alias is the general one.
        const fix = err.kind === 'wide-on-lo' && err.fix ? err.fix : await move();
        return [fail('route-conflict', err.message, fix)];
      }
      throw err;
    }
    if (warnings.length > 0) {
      const fix = await move();
      return warnings.map((w) => warn('route-conflict', routeShadowText(String(w.data?.['ip']), String(w.data?.['route'])), fix));
    }
    return [ok('route-conflict', `no interface subnet or route other than the default covers ${ip}`)];
  },
};
