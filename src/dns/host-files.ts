import { isIP } from 'node:net';

/**
 * The host's name files as the resolver reads them: /etc/hosts (as glibc's `files` backend and
 * `getent` read it) and /etc/resolv.conf (the servers the host asks). Pure parsers.
 */

/** Name (lower case, no trailing dot) → its addresses in file order, per family. */
export interface HostsTable {
  v4: ReadonlyMap<string, readonly string[]>;
  v6: ReadonlyMap<string, readonly string[]>;
}

export const EMPTY_HOSTS: HostsTable = { v4: new Map(), v6: new Map() };

/** A name as the resolver compares it: lower case (DNS names are case-insensitive), no trailing dot. Pure. */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * /etc/hosts as glibc reads it (hosts(5)): `#` starts a comment, the first field is the address,
 * the others are the canonical name and its aliases; every line naming a name counts (Debian's
 * host.conf has `multi on`), in file order, each address once. IPv4-mapped IPv6 and malformed
 * lines are skipped as glibc skips them. Pure.
 */
export function parseHosts(text: string): HostsTable {
  const v4 = new Map<string, string[]>();
  const v6 = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    const [addr, ...names] = fields;
    if (!addr || names.length === 0) continue;
    const family = isIP(addr.replace(/%.*$/, ''));
    if (family === 0 || addr.includes('%')) continue;
    const table = family === 4 ? v4 : v6;
    const canonical = family === 4 ? addr : addr.toLowerCase();
    for (const n of names) {
      const key = canonicalName(n);
      if (key === '') continue;
      const list = table.get(key) ?? [];
      if (!list.includes(canonical)) list.push(canonical);
      table.set(key, list);
    }
  }
  return { v4, v6 };
}

/** A server from resolv.conf: its address (an IPv6 link-local one keeps its %zone). */
export interface UpstreamServer {
  address: string;
  family: 4 | 6;
}

/** glibc asks at most this many `nameserver` lines (MAXNS in resolv.h); later ones are ignored. */
export const MAX_NAMESERVERS = 3;

/**
 * The `nameserver` lines of resolv.conf(5), in order, the first MAX_NAMESERVERS as glibc uses
 * them; `#` and `;` start comments; a line that is not an address is skipped, as glibc skips it. Pure.
 */
export function parseResolvConf(text: string): UpstreamServer[] {
  const out: UpstreamServer[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/);
    if (fields[0] !== 'nameserver' || fields[1] === undefined) continue;
    const address = fields[1];
    const family = isIP(address.replace(/%.*$/, ''));
    if (family === 0) continue;
    if (out.length < MAX_NAMESERVERS) out.push({ address, family: family as 4 | 6 });
  }
  return out;
}

/** Loopback addresses (127.0.0.0/8, ::1): a container can't use them as a server. Pure. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/%.*$/, '').toLowerCase();
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1' || a.startsWith('::ffff:127.');
}
