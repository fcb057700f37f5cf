import { isIP } from 'node:net';
import type { ForwardSpec } from '../model/config.js';
import { parsePort, type Proto } from '../model/ports.js';
import { usageError } from '../model/errors.js';
import { loopbackTargets, type Endpoint, type TargetOrder } from './targets.js';

export type ForwardProto = Proto;

/** The fix a bad `forward` port names (model/ports.ts parsePortProto takes it). */
export const FORWARD_EXAMPLE = 'hostalias forward 5432 (or 5432/tcp, 53/udp)';

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

/**
 * One `--to` as stored and passed on: `HOST:PORT` normalised (`[v6]:PORT`), or a bare `PORT`,
 * which means the loopback on that port in either family. Throws a usage error. Pure.
 */
export function normalizeTarget(text: string): string {
  const t = text.trim();
  return /^\d+$/.test(t) ? String(parsePort(t, 'target port', '--to 5433')) : formatEndpoint(parseEndpoint(t));
}

const isBarePort = (t: string) => /^\s*\d+\s*$/.test(t);

/**
 * The targets of `--to` values and the order a relay tries them in (targets.ts): each HOST:PORT
 * as given, each bare PORT as the loopback pair [127.0.0.1:PORT, [::1]:PORT]; none: the loopback
 * pair on `port`, the way a local client of `localhost:PORT` connects. A loopback
 * service (no --to, or bare ports only) is tried 'sticky' (the family that answered last first);
 * explicit HOST:PORT lists are shared 'round-robin'. Both fail over on refusal. Pure.
 */
export function parseTargets(port: number, to: readonly string[]): { targets: Endpoint[]; order: TargetOrder } {
  if (to.length === 0) return { targets: loopbackTargets(port), order: 'sticky' };
  const targets = to.flatMap((t) => (isBarePort(t) ? loopbackTargets(parsePort(t.trim(), 'target port', '--to 5433')) : [parseEndpoint(t)]));
  return { targets, order: to.every(isBarePort) ? 'sticky' : 'round-robin' };
}

/** The targets a spec relays to (see parseTargets). Pure. */
export function targetsOf(spec: Pick<ForwardSpec, 'port' | 'targets'>): Endpoint[] {
  return parseTargets(spec.port, spec.targets).targets;
}

/** How a target list reads in messages and unit descriptions: `127.0.0.1:5173 or [::1]:5173`. Pure. */
export function describeTargets(targets: readonly Endpoint[]): string {
  return targets.map(formatEndpoint).join(' or ');
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
