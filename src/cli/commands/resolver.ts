import type { Command } from 'commander';
import { isIP } from 'node:net';
import { DEFAULT_IP, DEFAULT_NAMES } from '../../model/address.js';
import { HostaliasError, usageError } from '../../model/errors.js';
import { loadState } from '../../engine/state-store.js';
import { parseIfaceName } from '../../model/expose.js';
import { DNS_PORT, readResolverFiles, RESOLVER_TITLE, resolverConfig, sameFiles } from '../../dns/load.js';
import { BindError, startResolver, type Resolver } from '../../dns/server.js';
import { addCommonOptions, fsFrom, type CliIO, type CommonOptions } from '../io.js';

interface ResolverFlags extends CommonOptions {
  listen?: string;
  port: string;
  trustIface: string[];
}

/** How often the resolver looks at /etc/hosts, /etc/resolv.conf and the state for changes. */
const POLL_MS = 2000;

function signals(onHup: () => void): Promise<NodeJS.Signals> {
  process.on('SIGHUP', onHup);
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      process.off('SIGHUP', onHup);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** A bind that failed, as the error the CLI prints: port taken (exit 3, naming who), no alias, no privilege. */
async function bindFailure(err: BindError, flags: ResolverFlags): Promise<HostaliasError> {
  if (err.code === 'EADDRINUSE') {
    // Only on this path is the platform loaded (a resolver that runs for weeks keeps its memory small).
    const { contextFrom } = await import('../context-from.js');
    const ctx = contextFrom(flags);
    const holders = (await ctx.backend.portHolders?.(ctx, err.proto, err.host, err.port)) ?? [];
    return new HostaliasError(
      'conflict',
      `${err.message}${holders.length ? `: ${holders.join(', ')}` : ''}`,
      'stop it or make it listen elsewhere, then start the resolver again',
    );
  }
  if (err.code === 'EADDRNOTAVAIL') return new HostaliasError('failed', err.message, 'hostalias up (the alias must be on the loopback)');
  if (err.code === 'EACCES')
    return new HostaliasError('permission', err.message, 'run it as root (hostalias up --dns installs it as a service that may)', { needsRoot: true });
  return new HostaliasError('failed', err.message);
}

async function runResolver(io: CliIO, flags: ResolverFlags): Promise<void> {
  process.title = RESOLVER_TITLE;
  const fs = fsFrom(flags);
  if (flags.listen !== undefined && isIP(flags.listen) === 0) throw usageError(`--listen ${flags.listen} is not an IP address`, `--listen ${DEFAULT_IP}`);
  if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) > 65535) throw usageError(`--port ${flags.port} is not a port`, `--port ${DNS_PORT}`);
  const trusted = flags.trustIface.map((t) => parseIfaceName(t));
  const state = await loadState(fs).catch(() => null);
  const host = flags.listen ?? state?.desired.ip ?? DEFAULT_IP;
  const opts = { alias: state?.desired.ip ?? host, defaultNames: DEFAULT_NAMES, trusted };
  let files = await readResolverFiles(fs);
  const config = resolverConfig(files, opts);
  let resolver: Resolver;
  try {
    resolver = await startResolver({ listen: { host, port: Number(flags.port) }, ...config });
  } catch (err) {
    throw err instanceof BindError ? await bindFailure(err, flags) : err;
  }
  const say = (event: string, data: Record<string, unknown>, text: string) => io.out(flags.json ? JSON.stringify({ event, ...data }) : text);
  const describe = () =>
    `${config.local.names.size} recorded names, ${files.hosts === null ? 'no /etc/hosts' : `${config.local.hosts.v4.size + config.local.hosts.v6.size} names from /etc/hosts`}, upstreams: ${
      resolverConfig(files, opts)
        .upstreams.map((u) => u.address)
        .join(', ') || 'none (other names get SERVFAIL)'
    }`;
  say(
    'listening',
    { address: resolver.address, pid: process.pid },
    `resolver listening on ${resolver.address.host}:${resolver.address.port} (udp, tcp): ${describe()}`,
  );
  for (const p of files.problems) say('warning', { problem: p }, `warning: ${p}`);
  let reloading = false;
  const reload = async (why: string) => {
    if (reloading) return;
    reloading = true;
    try {
      const next = await readResolverFiles(fs);
      if (sameFiles(next, files) && why === 'poll') return;
      files = next;
      const fresh = resolverConfig(files, opts);
      resolver.reload({ local: fresh.local, upstreams: fresh.upstreams });
      say('reloaded', { why }, `reloaded (${why}): ${describe()}`);
      for (const p of files.problems) say('warning', { problem: p }, `warning: ${p}`);
    } finally {
      reloading = false;
    }
  };
  const timer = setInterval(() => void reload('poll'), POLL_MS);
  const sig = await signals(() => void reload('SIGHUP'));
  clearInterval(timer);
  await resolver.close();
  say('stopped', { signal: sig, stats: resolver.stats() }, `stopped (${sig}): ${JSON.stringify(resolver.stats())}`);
}

export function registerResolverCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('resolver'), false)
    .description(
      "run the DNS resolver of `up --dns` in the foreground (what its service runs): the recorded names, then the host's /etc/hosts, then the host's resolvers",
    )
    .option('--listen <addr>', 'listen on this address (default: the alias)')
    .option('--port <n>', 'UDP and TCP port', String(DNS_PORT))
    .option(
      '--trust-iface <pattern>',
      "also answer the networks of this interface (a name, or a prefix ending in +: br-+); loopback and this host's own addresses always",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action((flags: ResolverFlags) => runResolver(io, flags));
}
