import { isIP } from 'node:net';
import type { ForwardSpec } from '../model/config.js';
import { parsePort, parsePortProto as parsePortProtoOf, type Proto } from '../model/ports.js';
import { usageError } from '../model/errors.js';

export type ForwardProto = Proto;

export interface Endpoint {
  host: string;
  port: number;
}

export type { ForwardSpec } from '../model/config.js';

const FORWARD_EXAMPLE = 'hostalias forward 5432 (or 5432/tcp, 53/udp)';

/** `5432`, `5432/tcp`, `53/udp` → port and protocol. Pure. */
export function parsePortProto(text: string): { port: number; proto: ForwardProto } {
  return parsePortProtoOf(text, FORWARD_EXAMPLE);
}

/** `HOST:PORT`, `[v6]:PORT` or just `PORT` (on 127.0.0.1). Only literal addresses: a relay must not depend on DNS. Pure. */
export function parseEndpoint(text: string, what = 'target'): Endpoint {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { host: '127.0.0.1', port: parsePort(t, `${what} port`, FORWARD_EXAMPLE) };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(t) ?? /^([^:]+):(\d+)$/.exec(t);
  if (!m?.[1] || !m[2]) throw usageError(`invalid ${what} "${text}": expected HOST:PORT, e.g. 127.0.0.1:5432`, '--to 127.0.0.1:5432');
  if (isIP(m[1]) === 0) throw usageError(`invalid ${what} "${text}": ${m[1]} is not an IP address`, `--to 127.0.0.1:${m[2]}`);
  return { host: m[1], port: parsePort(m[2], `${what} port`, `--to 127.0.0.1:5432`) };
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
