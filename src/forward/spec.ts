import { isIP } from 'node:net';
import type { ForwardSpec } from '../core/config.js';
import { usageError } from '../errors.js';

export type ForwardProto = 'tcp' | 'udp';

export interface Endpoint {
  host: string;
  port: number;
}

export type { ForwardSpec } from '../core/config.js';

function parsePort(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`invalid ${what} "${text}": expected a number from 1 to 65535`, 'hostalias forward 5432');
  const n = Number(text);
  if (n < 1 || n > 65535) throw usageError(`invalid ${what} ${n}: expected a number from 1 to 65535`, 'hostalias forward 5432');
  return n;
}

/** `5432`, `5432/tcp`, `53/udp` → port and protocol. Pure. */
export function parsePortProto(text: string): { port: number; proto: ForwardProto } {
  const m = /^([^/]+)(?:\/(tcp|udp))?$/i.exec(text.trim());
  if (!m?.[1]) throw usageError(`invalid port "${text}": expected PORT, PORT/tcp or PORT/udp`, 'hostalias forward 5432/tcp');
  return { port: parsePort(m[1], 'port'), proto: (m[2]?.toLowerCase() ?? 'tcp') as ForwardProto };
}

/** `HOST:PORT`, `[v6]:PORT` or just `PORT` (on 127.0.0.1). Only literal addresses: a relay must not depend on DNS. Pure. */
export function parseEndpoint(text: string, what = 'target'): Endpoint {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { host: '127.0.0.1', port: parsePort(t, `${what} port`) };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(t) ?? /^([^:]+):(\d+)$/.exec(t);
  if (!m?.[1] || !m[2]) throw usageError(`invalid ${what} "${text}": expected HOST:PORT, e.g. 127.0.0.1:5432`, '--to 127.0.0.1:5432');
  if (isIP(m[1]) === 0) throw usageError(`invalid ${what} "${text}": ${m[1]} is not an IP address`, `--to 127.0.0.1:${m[2]}`);
  return { host: m[1], port: parsePort(m[2], `${what} port`) };
}

export function parseListenAddress(text: string): string {
  if (isIP(text) === 0) throw usageError(`invalid --listen "${text}": expected an IP address`, '--listen 10.254.254.254');
  return text;
}

export function formatEndpoint(e: Endpoint): string {
  return isIP(e.host) === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** The targets a spec relays to: its --to list, or 127.0.0.1 on the same port. Pure. */
export function targetsOf(spec: Pick<ForwardSpec, 'port' | 'targets'>): Endpoint[] {
  return spec.targets.length > 0 ? spec.targets.map((t) => parseEndpoint(t)) : [{ host: '127.0.0.1', port: spec.port }];
}

/** Refuses a relay whose listening address is one of its targets (it would connect to itself forever). */
export function checkNoLoop(listen: Endpoint, targets: readonly Endpoint[]): void {
  for (const t of targets) {
    if (t.port === listen.port && (t.host === listen.host || listen.host === '0.0.0.0' || listen.host === '::')) {
      throw usageError(`forward would relay ${formatEndpoint(listen)} to itself`, `listen on the alias (the default) or pick another --to`);
    }
  }
}

/** The service unit name for a forward, e.g. hostalias-forward-5432-tcp.service. */
export function unitName(spec: Pick<ForwardSpec, 'port' | 'proto'>): string {
  return `hostalias-forward-${spec.port}-${spec.proto}.service`;
}
