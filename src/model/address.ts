import ipaddr from 'ipaddr.js';
import { usageError } from './errors.js';

export const DEFAULT_IP = '10.254.254.254';
export const DEFAULT_NAMES: readonly string[] = ['local_host', 'local', 'host.docker.internal'];

const REFUSED_RANGES: ReadonlyArray<[string, number, string]> = [
  ['127.0.0.0', 8, 'is loopback already (127.0.0.0/8 never leaves a container)'],
  ['0.0.0.0', 8, 'is in 0.0.0.0/8 ("this network"), not a unicast host address'],
  ['169.254.0.0', 16, 'is link-local (169.254.0.0/16), which clouds use for metadata services'],
  ['224.0.0.0', 4, 'is multicast'],
  ['240.0.0.0', 4, 'is reserved (240.0.0.0/4)'],
];

/**
 * Validates an alias address: dotted-quad IPv4 unicast only. Pure.
 * Throws a usage error that says why and what to use instead.
 */
export function parseAliasIp(input: string): string {
  const fix = `use a private address such as ${DEFAULT_IP} (the default)`;
  if (!ipaddr.IPv4.isValidFourPartDecimal(input)) {
    if (ipaddr.IPv6.isValid(input)) throw usageError(`invalid alias address "${input}": IPv6 is not supported, the alias is IPv4`, fix);
    throw usageError(`invalid alias address "${input}": expected an IPv4 address like ${DEFAULT_IP}`, fix);
  }
  const addr = ipaddr.IPv4.parse(input);
  const canonical = addr.toString();
  if (canonical === '255.255.255.255') throw usageError(`invalid alias address ${canonical}: it is the broadcast address`, fix);
  for (const [net, bits, why] of REFUSED_RANGES) {
    if (addr.match(ipaddr.IPv4.parse(net), bits)) throw usageError(`invalid alias address ${canonical}: it ${why}`, fix);
  }
  return canonical;
}

/**
 * The one test of "the alias is present": `ip` as a /32 on the loopback, as hostalias adds it
 * (Linux's `lo` and its labels `lo:NAME`, macOS's `lo0`). Takes addresses as getifaddrs names
 * them; the platforms' own listings (ip -j addr, ifconfig) are mapped to that shape. Pure.
 */
export function aliasOnLoopback(addrs: ReadonlyArray<{ name: string; address: string; prefixlen: number }>, ip: string): boolean {
  return addrs.some((a) => (a.name === 'lo' || a.name === 'lo0' || a.name.startsWith('lo:')) && a.address === ip && a.prefixlen === 32);
}

/** True when `ip` lies inside `cidr` (`ADDR/BITS`, or a bare `ADDR`: that one address); false for anything else (`default`). Pure. */
export function inCidr(ip: string, cidr: string): boolean {
  const [addr, bits] = cidr.split('/');
  return addr !== undefined && inSubnet(ip, addr, bits === undefined ? 32 : Number(bits));
}

/** True when `ip` lies inside `cidrAddr/prefix`. Pure. */
export function inSubnet(ip: string, cidrAddr: string, prefix: number): boolean {
  try {
    const a = ipaddr.parse(ip);
    const n = ipaddr.parse(cidrAddr);
    return a.kind() === n.kind() && a.match(n, prefix);
  } catch {
    return false;
  }
}

const NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/**
 * Why `name` can't be one of the alias's names, or null when it can. `localhost` (and
 * `*.localhost`, RFC 6761) must stay 127.0.0.1; a name that reads as an IP address (`10.0.0.1`,
 * `0x7f.1`, an all-digit last label) would shadow that address in /etc/hosts. Pure.
 */
export function refuseName(name: string): string | null {
  if (!NAME.test(name)) return 'use letters, digits, "-", "_" and dots, like local_host';
  const lower = name.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return '"localhost" must keep meaning 127.0.0.1 (RFC 6761); pick another name, like local_host';
  if (ipaddr.IPv4.isValid(name) || /^\d+$/.test(lower.split('.').pop() ?? ''))
    return 'it reads as an IP address, so it would shadow that address; use a name with a letter in its last label';
  return null;
}

/** Parses `--names a,b,c`: host names as /etc/hosts and `--add-host` accept them. Pure. */
export function parseNames(input: string): string[] {
  const names = input
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw usageError('--names needs at least one host name', 'for example --names local_host,host.docker.internal');
  for (const name of names) {
    const why = refuseName(name);
    if (why) throw usageError(`invalid host name ${JSON.stringify(name)} in --names`, why);
  }
  return [...new Set(names)];
}

/** The interface label for the alias: `lo:` plus at most 12 characters, the kernel's IFNAMSIZ limit. */
export function parseLabel(input: string): string {
  if (!/^lo:[A-Za-z0-9_.-]{1,12}$/.test(input)) {
    throw usageError(`invalid label "${input}": it must be "lo:" followed by 1–12 letters, digits, ".", "_" or "-"`, 'for example --label lo:hostalias');
  }
  return input;
}
