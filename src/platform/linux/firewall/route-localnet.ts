import type { Step } from '../../../model/steps.js';

export const RECORD_PATH = '/var/lib/hostalias/firewall.json';

/**
 * What the firewall part installed that its files don't say: which backend holds the rules, and
 * the value `route_localnet` had on each interface before hostalias set it, so `down` restores
 * exactly that value.
 */
export interface FirewallRecord {
  backend: 'nftables' | 'iptables';
  routeLocalnet: Record<string, number>;
}

export function routeLocalnetKey(iface: string): string {
  // sysctl reads '.' as a separator; an interface name with a dot needs the '/' form.
  return iface.includes('.') ? `net/ipv4/conf/${iface}/route_localnet` : `net.ipv4.conf.${iface}.route_localnet`;
}

export function sysctlSetArgv(iface: string, value: number): string[] {
  return ['sysctl', '-q', '-w', `${routeLocalnetKey(iface)}=${value}`];
}

/**
 * Converges route_localnet: 1 on `wanted` interfaces (those that exist), the recorded previous
 * value everywhere hostalias set it and no longer wants it. Returns the steps and the record of
 * previous values to keep (interfaces that vanished are dropped: nothing is left to restore).
 * Pure; idempotent.
 */
export function planRouteLocalnet(wanted: readonly string[], current: Readonly<Record<string, number>>, recorded: Readonly<Record<string, number>>): { steps: Step[]; record: Record<string, number> } {
  const steps: Step[] = [];
  const record: Record<string, number> = {};
  const want = new Set(wanted.filter((i) => current[i] !== undefined));
  for (const [iface, previous] of Object.entries(recorded).sort(([a], [b]) => a.localeCompare(b))) {
    const now = current[iface];
    if (now === undefined) continue;
    if (want.has(iface)) {
      record[iface] = previous;
      continue;
    }
    if (now !== previous) steps.push({ kind: 'run', argv: sysctlSetArgv(iface, previous), undo: sysctlSetArgv(iface, now), why: `restore route_localnet=${previous} on ${iface}` });
  }
  for (const iface of [...want].sort()) {
    const now = current[iface] as number;
    if (record[iface] === undefined) record[iface] = now;
    if (now !== 1) steps.push({ kind: 'run', argv: sysctlSetArgv(iface, 1), undo: sysctlSetArgv(iface, now), why: `let ${iface} deliver DNATed packets to 127.0.0.1 (route_localnet=1)` });
  }
  return { steps, record };
}

export function renderRecord(r: FirewallRecord): string {
  const sorted = Object.fromEntries(Object.entries(r.routeLocalnet).sort(([a], [b]) => a.localeCompare(b)));
  return `${JSON.stringify({ backend: r.backend, routeLocalnet: sorted }, null, 2)}\n`;
}

export function parseRecord(text: string | null): FirewallRecord | null {
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as Partial<FirewallRecord>;
    return { backend: r.backend === 'iptables' ? 'iptables' : 'nftables', routeLocalnet: { ...(r.routeLocalnet ?? {}) } };
  } catch {
    return null;
  }
}
