import { parse, TomlError } from 'smol-toml';
import { usageError } from '../model/errors.js';

/** Podman's system-wide containers.conf(5); a rootless user's is ~/.config/containers/containers.conf. */
export const CONTAINERS_CONF = '/etc/containers/containers.conf';

/** containers.conf as data (null = absent → {}); malformed TOML is a usage error naming line and column. Pure. */
export function parseContainersConf(text: string | null, path: string): Record<string, unknown> {
  if (text === null || text.trim() === '') return {};
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    const where = err instanceof TomlError ? `line ${err.line}, column ${err.column}` : (err as Error).message;
    throw usageError(`${path} is not valid TOML (${where}); nothing was changed`, `fix ${path} (podman refuses it too), then run hostalias again`);
  }
}

/** Deep equality of parsed TOML, key order aside (the parser's objects have no prototype). Pure. */
function sameData(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v !== null && typeof v === 'object' && !(v instanceof Date)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

function dnsServersOf(conf: Record<string, unknown>): unknown {
  const c = conf['containers'];
  return c !== null && typeof c === 'object' ? (c as Record<string, unknown>)['dns_servers'] : undefined;
}

function withValue(conf: Record<string, unknown>, servers: unknown): Record<string, unknown> {
  const containers = { ...((conf['containers'] as Record<string, unknown> | undefined) ?? {}) };
  if (servers === undefined) delete containers['dns_servers'];
  else containers['dns_servers'] = servers;
  const out: Record<string, unknown> = { ...conf, containers };
  if (Object.keys(containers).length === 0) delete out['containers'];
  return out;
}

const tomlArray = (servers: readonly string[]) => `[${servers.map((s) => JSON.stringify(s)).join(', ')}]`;
const HEADER = /^[ \t]*\[[ \t]*containers[ \t]*\][ \t]*(#.*)?$/;
const TABLE = /^[ \t]*\[/;
const KEY = /^[ \t]*dns_servers[ \t]*=/;

/** The lines of the `dns_servers = …` value starting at `at` (a multi-line array spans several), found with the TOML parser. */
function valueEnd(lines: readonly string[], at: number): number {
  for (let end = at; end < lines.length; end++) {
    try {
      parse(lines.slice(at, end + 1).join('\n'));
      return end;
    } catch {
      // the array goes on
    }
  }
  return at;
}

/**
 * `text` with `[containers] dns_servers` set to `servers` (undefined: the key removed), edited as
 * text so every other line, comment and blank stays as it was; the result is checked with the
 * TOML parser to mean exactly `text` with that one value changed. Pure; throws a usage error for
 * malformed TOML or a layout it can't edit safely (a dotted `containers.dns_servers` key).
 */
export function withDnsServersValue(text: string | null, servers: readonly string[] | undefined, path: string): string {
  const before = parseContainersConf(text, path);
  const wanted = withValue(before, servers === undefined ? undefined : [...servers]);
  if (sameData(dnsServersOf(before), servers === undefined ? undefined : [...servers]) && text !== null) return text;
  const lines = (text ?? '').split('\n');
  const header = lines.findIndex((l) => HEADER.test(l));
  let out: string[];
  if (header === -1) {
    if (servers === undefined) return text ?? '';
    const body = text ?? '';
    const sep = body === '' ? '' : body.endsWith('\n') ? '\n' : '\n\n';
    out = [`${body}${sep}[containers]`, `dns_servers = ${tomlArray(servers)}`, ''];
  } else {
    let end = lines.length;
    for (let i = header + 1; i < lines.length; i++) {
      if (TABLE.test(lines[i] ?? '')) {
        end = i;
        break;
      }
    }
    const key = lines.findIndex((l, i) => i > header && i < end && KEY.test(l));
    out = [...lines];
    if (key === -1) {
      if (servers !== undefined) out.splice(header + 1, 0, `dns_servers = ${tomlArray(servers)}`);
    } else {
      const last = valueEnd(lines, key);
      const indent = /^[ \t]*/.exec(lines[key] ?? '')?.[0] ?? '';
      out.splice(key, last - key + 1, ...(servers === undefined ? [] : [`${indent}dns_servers = ${tomlArray(servers)}`]));
    }
  }
  const next = out.join('\n');
  if (!sameData(parseContainersConf(next, path), wanted)) {
    throw usageError(
      `${path}: can't set [containers] dns_servers without changing something else (a dotted key or an inline table?); nothing was changed`,
      `set it yourself in ${path} (dns_servers = ${tomlArray(servers ?? [])} under [containers]) and run hostalias up without --dns`,
    );
  }
  return next;
}

/** The dns_servers hostalias set in `text` (led by the alias `ip`), else null. Pure. */
export function ourDnsServers(text: string | null, ip: string | null, path: string): string[] | null {
  if (text === null || ip === null) return null;
  const servers = dnsServersIn(text, path);
  return servers !== null && servers[0] === ip ? servers : null;
}

/** The `[containers] dns_servers` list of `text` (null: none, not a list of strings, or not valid TOML). Pure. */
export function dnsServersIn(text: string | null, path: string): string[] | null {
  let conf: Record<string, unknown>;
  try {
    conf = parseContainersConf(text, path);
  } catch {
    return null;
  }
  const v = dnsServersOf(conf);
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}

/** `text` without hostalias's dns_servers: the original's own value put back, else the key removed. Pure. */
export function withoutOurDnsServers(text: string, ip: string, original: string | null, path: string): string {
  if (ourDnsServers(text, ip, path) === null) return text;
  let theirs: unknown;
  try {
    theirs = dnsServersOf(parseContainersConf(original, path));
  } catch {
    theirs = undefined;
  }
  return withDnsServersValue(text, Array.isArray(theirs) ? (theirs as string[]) : undefined, path);
}
