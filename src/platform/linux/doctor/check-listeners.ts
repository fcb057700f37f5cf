import { inSubnet } from '../../../model/address.js';
import type { ExposeSpec } from '../../../model/config.js';
import type { Listener } from './proc-net.js';
import { readSocketOwners } from './proc-reader.js';
import { ok, warn, type Check, type Finding } from '../../../model/finding.js';
import { linuxFacts } from './facts.js';

export type Reach = 'yes' | 'exposed' | 'loopback-only' | 'other-address';

function isLoopback(addr: string): boolean {
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return addr === '::1' || inSubnet(v4, '127.0.0.0', 8);
}

/** Whether a container reaches `l` via the alias. Pure. */
export function classifyListener(l: Listener, aliasIp: string, exposes: readonly ExposeSpec[]): Reach {
  const a = l.address;
  if (a === '0.0.0.0' || a === '::' || a === aliasIp || a === `::ffff:${aliasIp}`) return 'yes';
  if (exposes.some((e) => e.port === l.port && e.proto === l.proto)) return 'exposed';
  return isLoopback(a) ? 'loopback-only' : 'other-address';
}

export interface PortReach {
  proto: 'tcp' | 'udp';
  port: number;
  reach: Reach;
  listeners: Listener[];
}

/**
 * One verdict per protocol and port: reachable when any socket on it is (a service listening on
 * 127.0.0.1 and on the alias is reachable). Sorted by protocol, then port. Pure.
 */
export function judgeListeners(listeners: readonly Listener[], aliasIp: string, exposes: readonly ExposeSpec[]): PortReach[] {
  const rank: Record<Reach, number> = { yes: 3, exposed: 2, 'other-address': 1, 'loopback-only': 0 };
  const byPort = new Map<string, PortReach>();
  for (const l of listeners) {
    const key = `${l.proto}/${l.port}`;
    const reach = classifyListener(l, aliasIp, exposes);
    const cur = byPort.get(key);
    if (!cur) byPort.set(key, { proto: l.proto, port: l.port, reach, listeners: [l] });
    else {
      cur.listeners.push(l);
      if (rank[reach] > rank[cur.reach]) cur.reach = reach;
    }
  }
  return [...byPort.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}

function where(l: Listener): string {
  return l.family === 6 ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

/** `listeners`: every TCP and UDP listener in this network namespace and whether containers reach it via the alias. */
export const listenersCheck: Check = {
  id: 'listeners',
  async run(input) {
    const { desired, hostalias } = input;
    const listeners = await linuxFacts(input).listeners();
    if (listeners.length === 0) return [ok('listeners', 'no TCP or UDP listener in this network namespace')];
    const owners = await readSocketOwners(new Set(listeners.map((l) => l.inode)));
    const ports = judgeListeners(listeners, desired.ip, desired.exposes);
    return ports.map((p): Finding => {
      const names = [...new Set(p.listeners.map((l) => owners.get(l.inode)).filter((n): n is string => n !== undefined))];
      const who = names.length > 0 ? ` (${names.join(', ')})` : '';
      const socks = p.listeners.map(where).join(', ');
      const spec = p.proto === 'udp' ? `${p.port}/udp` : String(p.port);
      switch (p.reach) {
        case 'yes':
          return ok('listeners', `${p.proto} ${socks}${who}: containers reach it at ${desired.ip}:${p.port}`);
        case 'exposed':
          return ok('listeners', `${p.proto} ${socks}${who}: exposed, containers reach it at ${desired.ip}:${p.port}`);
        case 'loopback-only':
          return warn('listeners', `${p.proto} ${socks}${who}: loopback-only, containers can't reach it at ${desired.ip}:${p.port} (expose it with iptables/nft DNAT, or relay it in userspace: hostalias forward ${spec})`, hostalias(`expose ${spec}`));
        case 'other-address':
          return warn('listeners', `${p.proto} ${socks}${who}: bound to a specific address, not reachable at ${desired.ip}:${p.port}`, `hostalias forward ${spec} --to ${p.listeners[0]?.family === 6 ? `[${p.listeners[0]?.address}]` : p.listeners[0]?.address}:${p.port}`);
      }
    });
  },
};
