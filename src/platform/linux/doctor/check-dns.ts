/**
 * `dns` on Linux: with `up --dns`, the resolver answers on the alias (hostalias-dns.service), the
 * host's resolv.conf gives it servers, and each engine's configuration points at it: the running
 * rootful dockerd's daemon.json (or its --dns flags), Podman's /etc/containers/containers.conf,
 * and for each --dns-user their rootless Docker's and Podman's own files.
 */
import type { Check, DoctorInput, Finding } from '../../../model/context.js';
import { fail, ok, warn } from '../../../model/finding.js';
import type { FixCommand } from '../../../model/invocation.js';
import { DAEMON_JSON, parseDaemonJson } from '../../../docker/daemon-json.js';
import { CONTAINERS_CONF, dnsServersIn } from '../../../docker/containers-conf.js';
import { installed, lookupUser } from '../../../docker/dns-engines.js';
import { readLiveFile } from '../../../fs/system-fs.js';
import { withUserFiles } from '../../../fs/user-fs.js';
import {
  DNS_CHECK_ID,
  judgeResolvConf,
  judgeResolver,
  observeResolvConf,
  observeResolver,
  RESOLVER_PROBE,
  type ResolverProbe,
  type ResolverService,
  upDnsArgs,
} from '../../../doctor/check-dns.js';
import { DNS_UNIT, observeDnsUnit, resolverArgs, trustedIfaces } from '../dns-unit.js';
import { configFileOf, flagValues, pickDockerd } from './dockerd-config.js';
import { linuxFacts } from './facts.js';

/** A configuration file an engine reads its DNS servers from, as read. */
export interface EngineDnsFile {
  /** Who reads it: `Docker (rootful)`, `rootless Docker of alice`, `Podman (rootful)`, … */
  engine: string;
  path: string;
  /** The servers it sets (null: none, or not a list); `error`: it couldn't be read or parsed. */
  servers: string[] | null;
  error?: string;
  /** Where the servers come from when not the file (dockerd's --dns flags). */
  source?: string;
  /** After a change, what makes the engine read it again. */
  pickup: string;
}

/** What doctor saw of every engine's DNS setting. */
export interface DnsEnginesObserved {
  files: EngineDnsFile[];
  /** CONTAINERS_CONF in doctor's environment: podman run from here reads only that file. */
  containersConfEnv: { path: string; servers: string[] | null } | null;
  /** --dns-user names no user has any more. */
  missingUsers: string[];
}

/**
 * Each engine's file points at the resolver when its servers start with the alias; the rest are
 * fallbacks for the moments it is down. Pure.
 */
export function judgeDnsEngines(obs: DnsEnginesObserved, ip: string, hostalias: FixCommand, upArgs: string): Finding[] {
  const fix = hostalias(upArgs);
  const findings: Finding[] = [];
  for (const f of obs.files) {
    const where = f.source ?? f.path;
    if (f.error) findings.push(fail(DNS_CHECK_ID, `${f.engine}: ${f.path} can't be read (${f.error}), so it can't be told to use the resolver`, fix));
    else if (f.servers?.[0] === ip) findings.push(ok(DNS_CHECK_ID, `${f.engine}: ${where} → ${f.servers.join(', ')}: its containers ask the resolver first`));
    else
      findings.push(
        fail(
          DNS_CHECK_ID,
          `${f.engine}: ${where} ${f.servers ? `sets ${f.servers.join(', ')}` : 'sets no DNS servers'}, not the alias ${ip} first: its containers don't ask the resolver`,
          f.source ? `${f.pickup}   # after removing --dns from dockerd's command line` : `${fix}   # then: ${f.pickup}`,
        ),
      );
  }
  const env = obs.containersConfEnv;
  if (env && env.servers?.[0] !== ip)
    findings.push(
      warn(
        DNS_CHECK_ID,
        `CONTAINERS_CONF=${env.path} is set here: podman run with it reads only that file (not ${CONTAINERS_CONF} nor ~/.config/containers/containers.conf), which sets ${env.servers ? env.servers.join(', ') : 'no dns_servers'}, so those containers don't ask the resolver`,
        'unset CONTAINERS_CONF',
      ),
    );
  for (const user of obs.missingUsers)
    findings.push(
      warn(DNS_CHECK_ID, `--dns-user ${user}: no such user any more (getent passwd ${user} finds none)`, hostalias(upArgs.replace(/ --dns-user \S+/, ''))),
    );
  return findings;
}

const dockerPickup = 'sudo systemctl restart docker';
const podmanPickup = 'nothing: podman reads it at each podman run';

function daemonServers(text: string | null, path: string): { servers: string[] | null; error?: string } {
  try {
    const v = parseDaemonJson(text, path)['dns'];
    return { servers: Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null };
  } catch (err) {
    return { servers: null, error: (err as Error).message };
  }
}

async function readAs(owner: Parameters<typeof withUserFiles>[0], path: string): Promise<{ text: string | null; error?: string }> {
  try {
    return { text: await withUserFiles(owner, (fs) => fs.read(path)) };
  } catch (err) {
    return { text: null, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/** Reads every engine's DNS setting `up --dns` manages, for the engines installed here. Read-only. */
export async function observeDnsEngines(input: DoctorInput): Promise<DnsEnginesObserved> {
  const { ctx, desired } = input;
  const files: EngineDnsFile[] = [];
  const dockerd = pickDockerd(await linuxFacts(input).dockerdArgv(), ctx.env['DOCKER_HOST']);
  const daemonText = await ctx.fs.read(DAEMON_JSON).catch(() => null);
  if (dockerd || daemonText !== null || (await installed(ctx, 'dockerd'))) {
    const path = dockerd ? configFileOf(dockerd.argv) : DAEMON_JSON;
    const flags = dockerd ? flagValues(dockerd.argv, '--dns') : [];
    if (flags.length > 0) {
      files.push({ engine: 'Docker (rootful)', path, servers: flags, source: `dockerd --dns (pid ${dockerd?.pid})`, pickup: dockerPickup });
    } else {
      // The running daemon read its own file, not one under --root; the default path honours --root.
      const text = path === DAEMON_JSON ? daemonText : await readLiveFile(path);
      files.push({ engine: 'Docker (rootful)', path: path === DAEMON_JSON ? ctx.fs.resolve(path) : path, ...daemonServers(text, path), pickup: dockerPickup });
    }
  }
  const podman = await installed(ctx, 'podman');
  if (podman) {
    const text = await ctx.fs.read(CONTAINERS_CONF).catch(() => null);
    files.push({ engine: 'Podman (rootful)', path: ctx.fs.resolve(CONTAINERS_CONF), servers: dnsServersIn(text, CONTAINERS_CONF), pickup: podmanPickup });
  }
  const envConf = ctx.env['CONTAINERS_CONF'];
  const containersConfEnv = podman && envConf ? { path: envConf, servers: dnsServersIn(await readLiveFile(envConf).catch(() => null), envConf) } : null;
  const missingUsers: string[] = [];
  const rootlessDocker = desired.dnsUsers.length > 0 && (await installed(ctx, 'rootlesskit')) && (await installed(ctx, 'dockerd'));
  for (const user of desired.dnsUsers) {
    const found = await lookupUser(ctx, user);
    if (!found) {
      missingUsers.push(user);
      continue;
    }
    if (rootlessDocker) {
      const path = `${found.home}/.config/docker/daemon.json`;
      const r = await readAs(found.owner, path);
      const parsed = r.error ? { servers: null, error: r.error } : daemonServers(r.text, path);
      files.push({ engine: `rootless Docker of ${user}`, path, ...parsed, pickup: `as ${user}: systemctl --user restart docker` });
    }
    if (podman) {
      const path = `${found.home}/.config/containers/containers.conf`;
      const r = await readAs(found.owner, path);
      files.push({
        engine: `rootless Podman of ${user}`,
        path,
        servers: r.error ? null : dnsServersIn(r.text, path),
        ...(r.error ? { error: r.error } : {}),
        pickup: podmanPickup,
      });
    }
  }
  return { files, containersConfEnv, missingUsers };
}

/** hostalias-dns.service as systemd tells it (systemctl only when systemd runs here). Read-only. */
export async function observeDnsService(input: DoctorInput): Promise<ResolverService> {
  const { ctx, desired, hostalias } = input;
  const unit = await observeDnsUnit(ctx);
  let running: boolean | null = null;
  if (unit.systemdRunning) running = (await ctx.runner.run(['systemctl', 'is-active', DNS_UNIT], { timeoutMs: 10_000 })).stdout.trim() === 'active';
  return {
    name: DNS_UNIT,
    installed: unit.unit !== null,
    running,
    restart: `sudo systemctl restart ${DNS_UNIT}`,
    logs: `sudo journalctl -u ${DNS_UNIT} -n 50`,
    // What the unit runs (the same addresses answered), as root: it binds port 53.
    foreground: `${hostalias(resolverArgs({ ip: desired.ip, trusted: trustedIfaces(desired.allowIfaces) }), 'root')}   # keep it running: Ctrl-C stops it`,
  };
}

/** The `dns` check; `probe` is where the resolver is asked (tests give their own port). */
export function dnsCheck(probe: ResolverProbe = RESOLVER_PROBE): Check {
  return {
    id: DNS_CHECK_ID,
    async run(input) {
      const { desired, hostalias } = input;
      if (!desired.dns) return [];
      const [resolver, resolvConf, engines] = await Promise.all([
        observeDnsService(input).then((service) => observeResolver(input, service, probe)),
        observeResolvConf(input),
        observeDnsEngines(input),
      ]);
      return [
        ...judgeResolver(resolver, desired, hostalias, probe.port),
        ...judgeResolvConf(resolvConf, desired.ip),
        ...judgeDnsEngines(engines, desired.ip, hostalias, upDnsArgs(desired)),
      ];
    },
  };
}
