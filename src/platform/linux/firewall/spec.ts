import type { Desired, ExposeSpec } from '../../../model/config.js';

/**
 * What the firewall part converges to, derived from `Desired` and the container bridges Docker
 * reports. `trusted` are the interfaces (besides lo) that may use the alias: container bridges
 * and `--allow-iface` ones; exposed ports are DNATed only for packets arriving on them.
 */
export interface FirewallSpec {
  ip: string;
  guard: boolean;
  trusted: string[];
  exposes: ExposeSpec[];
}

/** The spec for `desired`, or null when no rule is wanted (no guard, no exposed port). Pure. */
export function firewallSpec(desired: Desired | null, bridges: readonly string[]): FirewallSpec | null {
  if (!desired || (!desired.lanGuard && desired.exposes.length === 0)) return null;
  const trusted = [...new Set([...bridges, ...desired.allowIfaces])].filter((i) => i !== 'lo').sort();
  const exposes = [...desired.exposes].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
  return { ip: desired.ip, guard: desired.lanGuard, trusted, exposes };
}
