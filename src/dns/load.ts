import { networkInterfaces } from 'node:os';
import type { Files } from '../model/files.js';
import { parseState, STATE_PATH } from '../model/state.js';
import { canonicalName, parseHosts, parseResolvConf } from './host-files.js';
import type { ResolverConfig } from './server.js';
import { containerSourcePolicy } from './sources.js';
import type { Upstream } from './upstream.js';

/** The resolver's process name (`process.title`, the kernel's `comm`): how a port-53 holder is known to be ours. */
export const RESOLVER_TITLE = 'hostalias-dns';
export const DNS_PORT = 53;

export const HOSTS_FILE = '/etc/hosts';
export const RESOLV_CONF = '/etc/resolv.conf';
/** TTL of the resolver's own answers: short, so a changed alias or /etc/hosts line reaches clients that cache. */
export const LOCAL_TTL = 10;

/** What the resolver reads from the system (under --files-root DIR for tests): the texts, null when unreadable. */
export interface ResolverFiles {
  hosts: string | null;
  resolvConf: string | null;
  /** The recorded names (null: no state: the default names). */
  names: string[] | null;
  /** Why a file couldn't be read (a FIFO, a directory, a permission), for the log. */
  problems: string[];
}

async function readText(fs: Files, path: string, problems: string[]): Promise<string | null> {
  try {
    const text = await fs.read(path);
    if (text === null) problems.push(`${fs.resolve(path)} is missing`);
    return text;
  } catch (err) {
    problems.push(`${fs.resolve(path)}: ${(err as Error).message}`);
    return null;
  }
}

/** Reads /etc/hosts, /etc/resolv.conf and the state's names through `fs`. Read-only; never throws for a bad file. */
export async function readResolverFiles(fs: Files): Promise<ResolverFiles> {
  const problems: string[] = [];
  const hosts = await readText(fs, HOSTS_FILE, problems);
  const resolvConf = await readText(fs, RESOLV_CONF, problems);
  let names: string[] | null = null;
  try {
    const text = await fs.read(STATE_PATH);
    names = text === null ? null : parseState(text, fs.resolve(STATE_PATH)).desired.names;
  } catch (err) {
    problems.push((err as Error).message);
  }
  return { hosts, resolvConf, names, problems };
}

/**
 * The upstreams for a resolver listening on `self`: resolv.conf's servers (loopback ones too: the
 * resolver runs on the host, where 127.0.0.53 answers), without the resolver's own address, which
 * would ask itself. Pure.
 */
export function upstreamsFrom(resolvConf: string | null, self: readonly string[]): Upstream[] {
  const own = new Set(self.map((a) => a.toLowerCase()));
  return parseResolvConf(resolvConf ?? '')
    .filter((s) => !own.has(s.address.toLowerCase()))
    .map((s) => ({ ...s, port: 53 }));
}

/** The resolver's configuration from what was read. `defaults`: the names when there is no state. */
export function resolverConfig(files: ResolverFiles, opts: { alias: string; defaultNames: readonly string[]; trusted: readonly string[] }): ResolverConfig {
  return {
    local: {
      alias: opts.alias,
      names: new Set((files.names ?? opts.defaultNames).map(canonicalName)),
      hosts: parseHosts(files.hosts ?? ''),
      ttl: LOCAL_TTL,
    },
    upstreams: upstreamsFrom(files.resolvConf, [opts.alias]),
    sources: containerSourcePolicy({ trusted: opts.trusted, interfaces: networkInterfaces, now: Date.now }),
  };
}

/** The same files (text for text): nothing to reload. Pure. */
export function sameFiles(a: ResolverFiles, b: ResolverFiles): boolean {
  return a.hosts === b.hosts && a.resolvConf === b.resolvConf && JSON.stringify(a.names) === JSON.stringify(b.names);
}
