import { HostaliasError, usageError } from '../model/errors.js';
import { parseVersion, versionAtLeast } from '../model/version.js';
import { findJsonError, findTooDeep } from './json-position.js';

/** No Docker setting nests deeper; past it the file is refused before a recursive parser sees it. */
const MAX_DEPTH = 64;

export const DAEMON_JSON = '/etc/docker/daemon.json';

/** Engine 20.10–27 take one address; Engine 28 takes a list (IPv4 and IPv6) under a new key. */
export type GatewayKey = 'host-gateway-ip' | 'host-gateway-ips';
export const GATEWAY_KEYS: readonly GatewayKey[] = ['host-gateway-ip', 'host-gateway-ips'];
/** The Engine release that brought `host-gateway`. */
export const HOST_GATEWAY_SINCE = '20.10';

/**
 * Which daemon.json key sets host-gateway on this engine version. Pure.
 * Throws `unsupported` for engines before 20.10, which have no host-gateway at all.
 */
export function chooseGatewayKey(version: string): GatewayKey {
  if (parseVersion(version) === null)
    throw new HostaliasError(
      'unsupported',
      `can't read the Docker Engine version "${version}"`,
      'check `docker version`; hostalias needs Engine 20.10 or newer',
    );
  if (versionAtLeast(version, '28')) return 'host-gateway-ips';
  if (versionAtLeast(version, HOST_GATEWAY_SINCE)) return 'host-gateway-ip';
  throw new HostaliasError(
    'unsupported',
    `Docker Engine ${version} has no host-gateway (it came with 20.10)`,
    'upgrade Docker Engine to 20.10 or newer, or use hostalias run / hostalias flags, which work with any version',
  );
}

/** Parses daemon.json (null = absent → {}); malformed JSON is a usage error naming line and column. Pure. */
export function parseDaemonJson(text: string | null, path = DAEMON_JSON): Record<string, unknown> {
  if (text === null || text.trim() === '') return {};
  const deep = findTooDeep(text, MAX_DEPTH);
  if (deep) {
    throw usageError(
      `${path}:${deep.line}:${deep.column}: nested more than ${MAX_DEPTH} levels deep; nothing was changed`,
      `fix ${path} (no Docker setting nests that deep), then run hostalias again`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const pos = findJsonError(text);
    const where = pos ? `line ${pos.line}, column ${pos.column}: expected ${pos.expected}` : (err as Error).message;
    throw usageError(
      `${path} is not valid JSON (${where}); nothing was changed`,
      `fix ${path} (dockerd refuses it too: \`dockerd --validate --config-file ${path}\` on Engine 23+), then run hostalias again`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw usageError(`${path} must hold a JSON object ({ … }); nothing was changed`, `fix ${path}, then run hostalias again`);
  }
  return parsed as Record<string, unknown>;
}

/** The indentation the file uses (tabs or N spaces), so our rewrite looks like the user's. */
function detectIndent(text: string | null): string | number {
  const m = /\n([ \t]+)"/.exec(text ?? '');
  if (!m?.[1]) return 2;
  return m[1].startsWith('\t') ? '\t' : m[1].length;
}

function serialize(obj: Record<string, unknown>, like: string | null): string {
  const body = JSON.stringify(obj, null, detectIndent(like));
  return like === null || like.endsWith('\n') ? `${body}\n` : body;
}

/**
 * daemon.json with host-gateway set to `ip` under `key`, every other key kept in its order.
 * The other gateway key is dropped: Engine 28 refuses a file that sets both. Pure; idempotent.
 */
export function withGateway(text: string | null, ip: string, key: GatewayKey, path = DAEMON_JSON): string {
  const obj = parseDaemonJson(text, path);
  const value = key === 'host-gateway-ips' ? [ip] : ip;
  if (JSON.stringify(obj[key]) === JSON.stringify(value) && GATEWAY_KEYS.every((k) => k === key || !(k in obj))) return text ?? serialize(obj, null);
  const next: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!GATEWAY_KEYS.includes(k as GatewayKey) || k === key) next[k] = v;
  next[key] = value;
  return serialize(next, text);
}

/** The host-gateway address `text` sets, under the key that sets it; null for none, another shape or malformed JSON. Pure. */
export function gatewayOf(text: string | null, path = DAEMON_JSON): { key: GatewayKey; ip: string } | null {
  let obj: Record<string, unknown>;
  try {
    obj = parseDaemonJson(text, path);
  } catch {
    return null;
  }
  for (const key of GATEWAY_KEYS) {
    const value = obj[key];
    const ip = key === 'host-gateway-ips' ? (Array.isArray(value) && value.length === 1 ? value[0] : null) : value;
    if (typeof ip === 'string') return { key, ip };
  }
  return null;
}

/**
 * daemon.json without the gateway keys whose value is `ip` (what hostalias set): the original's own
 * host-gateway setting put back when it had one, else the keys removed. Pure.
 */
export function withoutGateway(text: string, ip: string, path = DAEMON_JSON, original: string | null = null): string {
  const obj = parseDaemonJson(text, path);
  const ours = (k: GatewayKey) => JSON.stringify(obj[k]) === JSON.stringify(k === 'host-gateway-ips' ? [ip] : ip);
  if (!GATEWAY_KEYS.some((k) => k in obj && ours(k))) return text;
  let theirs: Record<string, unknown>;
  try {
    theirs = parseDaemonJson(original, path);
  } catch {
    theirs = {};
  }
  const next: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!GATEWAY_KEYS.includes(k as GatewayKey) || !ours(k as GatewayKey)) next[k] = v;
    else if (k in theirs) next[k] = theirs[k];
  }
  for (const k of GATEWAY_KEYS) if (k in theirs && !(k in next)) next[k] = theirs[k];
  return serialize(next, text);
}

/**
 * daemon.json with `"dns": servers` (the resolver first, the host's other servers as fallback),
 * every other key kept in its order. Pure; idempotent.
 */
export function withDns(text: string | null, servers: readonly string[], path = DAEMON_JSON): string {
  const obj = parseDaemonJson(text, path);
  if (JSON.stringify(obj['dns']) === JSON.stringify(servers)) return text ?? serialize(obj, null);
  return serialize({ ...obj, dns: [...servers] }, text);
}

/** The "dns" list hostalias set in `text`: an array whose first server is `ip` (the alias); else null. Pure. */
export function ourDns(text: string | null, ip: string | null, path = DAEMON_JSON): string[] | null {
  if (text === null || ip === null) return null;
  let obj: Record<string, unknown>;
  try {
    obj = parseDaemonJson(text, path);
  } catch {
    return null;
  }
  const dns = obj['dns'];
  return Array.isArray(dns) && dns[0] === ip && dns.every((d) => typeof d === 'string') ? (dns as string[]) : null;
}

/**
 * `text` without hostalias's "dns" list (the one led by `ip`): the original's own list put back when
 * it had one, else the key removed. Pure.
 */
export function withoutDns(text: string, ip: string, original: string | null, path = DAEMON_JSON): string {
  if (ourDns(text, ip, path) === null) return text;
  const obj = parseDaemonJson(text, path);
  let theirs: unknown;
  try {
    theirs = parseDaemonJson(original, path)['dns'];
  } catch {
    theirs = undefined;
  }
  if (theirs !== undefined) return serialize({ ...obj, dns: theirs }, text);
  return serialize(Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'dns')), text);
}
