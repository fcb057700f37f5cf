import type { NetworkInterfaceInfo } from 'node:os';
import { inSubnet } from '../model/address.js';
import { isLoopbackAddress } from './host-files.js';

/** Who may ask the resolver: checked for every query before anything is decoded. */
export interface SourcePolicy {
  allows(address: string): boolean;
}

/**
 * An interface pattern as the LAN guard's iptables rules write them: a name, or a prefix ending
 * in `+` (`br-+`, `cni-podman+`). Pure.
 */
export function ifaceMatches(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('+') ? name.startsWith(p.slice(0, -1)) : name === p));
}

export interface SourcePolicyInput {
  /** Interfaces whose networks are container networks (`docker0`, `br-+`, `--allow-iface` names). */
  trusted: readonly string[];
  /** This host's interfaces now (os.networkInterfaces()). */
  interfaces(): NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Milliseconds, for the caches. */
  now(): number;
}

const CACHE_LIMIT = 4096;
/** A network created after the resolver started is seen on its first query: a miss re-reads the interfaces, at most this often. */
const REFRESH_MS = 1000;
const ALLOW_TTL_MS = 30_000;
const DENY_TTL_MS = 1000;

/** An IPv4-mapped IPv6 address (a dual-stack socket's view) as the IPv4 address it is. Pure. */
function unmapped(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Sources the resolver answers: loopback, this host's own addresses (a packet from the wire with
 * one as its source is dropped by the kernel as a martian, so they are the host's own processes,
 * rootless engines' slirp4netns/pasta among them), and the subnets of container networks' bridges.
 * Anything else (a LAN neighbour, when the LAN guard is off) is ignored. Decisions are cached;
 * an unknown source re-reads the interfaces (at most once a second), so a network created after
 * start is answered from its first query.
 */
export function containerSourcePolicy(input: SourcePolicyInput): SourcePolicy {
  let snapshot: { at: number; local: Set<string>; nets: Array<{ address: string; prefix: number }> } | null = null;
  const cache = new Map<string, { ok: boolean; until: number }>();
  const read = () => {
    const local = new Set<string>();
    const nets: Array<{ address: string; prefix: number }> = [];
    for (const [name, addrs] of Object.entries(input.interfaces())) {
      for (const a of addrs ?? []) {
        local.add(a.address.toLowerCase());
        const prefix = Number(a.cidr?.split('/')[1] ?? Number.NaN);
        if (ifaceMatches(name, input.trusted) && Number.isInteger(prefix)) nets.push({ address: a.address, prefix });
      }
    }
    snapshot = { at: input.now(), local, nets };
    return snapshot;
  };
  const judge = (addr: string, snap: NonNullable<typeof snapshot>) => snap.local.has(addr) || snap.nets.some((n) => inSubnet(addr, n.address, n.prefix));
  return {
    allows(address) {
      const addr = unmapped(address).replace(/%.*$/, '').toLowerCase();
      if (isLoopbackAddress(addr)) return true;
      const now = input.now();
      const hit = cache.get(addr);
      if (hit && hit.until > now) return hit.ok;
      let snap = snapshot ?? read();
      let ok = judge(addr, snap);
      if (!ok && now - snap.at >= REFRESH_MS) {
        snap = read();
        ok = judge(addr, snap);
      }
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(addr, { ok, until: now + (ok ? ALLOW_TTL_MS : DENY_TTL_MS) });
      return ok;
    },
  };
}
