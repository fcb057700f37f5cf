import type { ExposeSpec, FirewallChoice } from './config.js';
import { usageError } from './errors.js';
import { parsePort, parsePortProto as parsePortProtoOf } from './ports.js';

export const FIREWALL_CHOICES: readonly FirewallChoice[] = ['auto', 'nftables', 'iptables'];

export function describeExpose(e: ExposeSpec): string {
  return `${e.port}/${e.proto}`;
}

const EXPOSE_EXAMPLE = 'hostalias expose 5432 (or 5432/tcp, 5353/udp)';

/** Parses `PORT[/tcp|/udp]` as typed on the command line. Throws a usage error naming the fix. */
export function parsePortProto(text: string): { port: number; proto: 'tcp' | 'udp' } {
  return parsePortProtoOf(text, EXPOSE_EXAMPLE);
}

export function parseExpose(text: string, opts: { to?: string; keepSource?: boolean } = {}): ExposeSpec {
  const { port, proto } = parsePortProto(text);
  const to = opts.to === undefined ? port : parsePort(opts.to, '--to port', 'hostalias expose 5432 --to 5433');
  return { port, proto, to, keepSource: opts.keepSource ?? false };
}

/** `exposes` with `e` added, replacing an earlier expose of the same port and protocol. Pure. */
export function withExpose(exposes: readonly ExposeSpec[], e: ExposeSpec): ExposeSpec[] {
  return [...exposes.filter((x) => !(x.port === e.port && x.proto === e.proto)), e];
}

export function withoutExpose(exposes: readonly ExposeSpec[], port: number, proto: 'tcp' | 'udp'): ExposeSpec[] {
  return exposes.filter((x) => !(x.port === port && x.proto === proto));
}

/** Interface names as the kernel accepts them (IFNAMSIZ 16, no '/', whitespace or quotes). */
export function parseIfaceName(text: string): string {
  if (!/^[A-Za-z0-9_.:@+-]{1,15}$/.test(text) || text === '.' || text === '..') {
    throw usageError(`"${text}" is not an interface name`, 'give a name as `ip link` shows it, e.g. --allow-iface wg0');
  }
  return text;
}

