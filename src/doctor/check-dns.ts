/**
 * doctor's findings for `up --dns` that every platform shares: the resolver answers on the alias,
 * and the host's resolv.conf gives it servers to forward to. The platform says how its service
 * stands (a systemd unit, a LaunchDaemon); the judgements are pure functions of what was observed.
 */
import { askDns, type AskResult } from '../dns/client.js';
import { parseResolvConf } from '../dns/host-files.js';
import { DNS_PORT, RESOLV_CONF, RESOLVER_TITLE, upstreamsFrom } from '../dns/load.js';
import type { Desired } from '../model/config.js';
import type { DoctorInput, Finding } from '../model/context.js';
import type { FixCommand } from '../model/invocation.js';
import { fail, ok, warn } from '../model/finding.js';

export const DNS_CHECK_ID = 'dns';

/** How the resolver's service stands, as the platform's service manager tells it. */
export interface ResolverService {
  /** The unit or LaunchDaemon (`hostalias-dns.service`, `dev.hostalias.dns`). */
  name: string;
  /** Its definition (unit file, plist) is installed. */
  installed: boolean;
  /** The service manager runs it (true/false); null when none runs here to ask (a container, --files-root). */
  running: boolean | null;
  /** The line that starts it again, and the one that shows its log. */
  restart: string;
  logs: string;
  /** The line that runs the resolver in the foreground as the service would (where no service manager runs to start it). */
  foreground: string;
}

/** Where and how patiently the resolver is asked (tests give a port of their own). */
export interface ResolverProbe {
  port: number;
  timeoutMs: number;
}

export const RESOLVER_PROBE: ResolverProbe = { port: DNS_PORT, timeoutMs: 2000 };

/** What was seen of the resolver on the alias. */
export interface ResolverObserved {
  /** The name asked (the first recorded one) and the answers over UDP and TCP. */
  name: string;
  udp: AskResult;
  tcp: AskResult;
  /** Who holds UDP port 53 on the alias or a wildcard (`hostalias-dns[812] on …`, `dnsmasq[77] on 0.0.0.0:53`). */
  holders: string[];
  aliasPresent: boolean;
  service: ResolverService;
}

/** `up --dns` with the recorded users: the line that converges every engine's setting again. Pure. */
export function upDnsArgs(desired: Pick<Desired, 'dnsUsers'>): string {
  return desired.dnsUsers.length > 0 ? `up --dns --dns-user ${desired.dnsUsers.join(',')}` : 'up --dns';
}

function describe(r: AskResult): string {
  switch (r.kind) {
    case 'answer':
      return `${r.rcode}${r.addresses.length ? ` ${r.addresses.join(', ')}` : ', no address'}`;
    case 'timeout':
      return 'no answer in time';
    case 'refused':
      return 'refused: nothing listens there';
    default:
      return r.message;
  }
}

const answersAlias = (r: AskResult, ip: string) => r.kind === 'answer' && r.rcode === 'NOERROR' && r.addresses.includes(ip);

/**
 * Judges the resolver on the alias: it answers the first recorded name with the alias over UDP and
 * TCP; else why not (someone else holds the port, no alias, no service, the service stopped or
 * silent), each with the line that fixes it. Pure.
 */
export function judgeResolver(obs: ResolverObserved, desired: Desired, hostalias: FixCommand, port = DNS_PORT): Finding[] {
  const ip = desired.ip;
  const at = `${ip}:${port}`;
  const { name, udp, tcp, service } = obs;
  const restart = `${service.restart}   # its log: ${service.logs}`;
  const others = obs.holders.filter((h) => !h.startsWith(`${RESOLVER_TITLE}[`));
  const ours = obs.holders.filter((h) => h.startsWith(`${RESOLVER_TITLE}[`));
  if (answersAlias(udp, ip) && answersAlias(tcp, ip)) return [ok(DNS_CHECK_ID, `the resolver answers on ${at} (udp and tcp): ${name} → ${ip}`)];
  if (answersAlias(udp, ip))
    return [
      warn(DNS_CHECK_ID, `the resolver answers on ${at} over UDP but not over TCP (${describe(tcp)}): an answer too large for UDP can't be fetched`, restart),
    ];
  if (udp.kind === 'answer') {
    if (others.length > 0)
      return [
        fail(
          DNS_CHECK_ID,
          `${at} answers ${name} with ${describe(udp)}, not the alias: ${others.join(', ')} holds port ${port} there, not the resolver`,
          `stop ${others[0]?.split(' ')[0]} or make it listen elsewhere, then: ${service.restart}`,
        ),
      ];
    return [
      fail(
        DNS_CHECK_ID,
        `the resolver on ${at} answers ${name} with ${describe(udp)}, not the alias ${ip} (it reads the names from the state: is it an older copy?)`,
        restart,
      ),
    ];
  }
  const what = `nothing answers on ${at} (${describe(udp)})`;
  if (others.length > 0)
    return [
      fail(
        DNS_CHECK_ID,
        `${what}: port ${port} there is held by ${others.join(', ')}, not the resolver`,
        `stop ${others[0]?.split(' ')[0]} or make it listen elsewhere, then: ${service.restart}`,
      ),
    ];
  if (!obs.aliasPresent) return [fail(DNS_CHECK_ID, `${what}: the alias ${ip} is not on the loopback, so the resolver can't listen there`, hostalias('up'))];
  if (!service.installed) return [fail(DNS_CHECK_ID, `${what}: the resolver's service ${service.name} is not installed`, hostalias(upDnsArgs(desired)))];
  if (ours.length > 0) return [fail(DNS_CHECK_ID, `${what}, though ${ours.join(', ')} listens there: it is stuck`, restart)];
  if (service.running === false) return [fail(DNS_CHECK_ID, `${what}: ${service.name} is not running`, restart)];
  if (service.running === null)
    return [fail(DNS_CHECK_ID, `${what}, and no service manager runs here to start ${service.name}: run the resolver in the foreground`, service.foreground)];
  return [fail(DNS_CHECK_ID, `${what}, though ${service.name} is active: it may be restarting after a crash`, restart)];
}

/** Asks the resolver on the alias and looks at who holds its port. Read-only. */
export async function observeResolver(input: DoctorInput, service: ResolverService, probe: ResolverProbe = RESOLVER_PROBE): Promise<ResolverObserved> {
  const { ctx, desired } = input;
  const name = desired.names[0] ?? 'host.docker.internal';
  const [udp, tcp] = await Promise.all([
    askDns(desired.ip, probe.port, name, 'A', { transport: 'udp', timeoutMs: probe.timeoutMs }),
    askDns(desired.ip, probe.port, name, 'A', { transport: 'tcp', timeoutMs: probe.timeoutMs }),
  ]);
  const healthy = answersAlias(udp, desired.ip) && answersAlias(tcp, desired.ip);
  const [holders, aliasPresent] = healthy
    ? [[], true]
    : await Promise.all([ctx.backend.portHolders?.(ctx, 'udp', desired.ip, probe.port) ?? Promise.resolve([]), ctx.backend.aliasPresent(ctx, desired.ip)]);
  return { name, udp, tcp, holders, aliasPresent, service };
}

/** What was read of the host's resolv.conf. */
export interface ResolvConfObserved {
  /** The path as shown (under --root/--files-root, the real one). */
  path: string;
  text: string | null;
  /** Why it couldn't be read (a permission, a directory), when it couldn't. */
  error: string | null;
  /** Its permission bits (null: a link or unknown). */
  mode: number | null;
}

const RESOLV_FIX = (path: string) =>
  `sudo ln -sf /run/systemd/resolve/stub-resolv.conf ${path}   # with systemd-resolved; else write your DNS servers there as "nameserver ADDRESS" lines`;

/**
 * Judges the host's resolv.conf as the resolver reads it: present, readable by the unprivileged
 * user the resolver runs as, with a server other than the alias itself. Pure.
 */
export function judgeResolvConf(obs: ResolvConfObserved, ip: string): Finding[] {
  const { path, text } = obs;
  const consequence = 'the resolver forwards nothing: names other than the recorded ones and /etc/hosts get SERVFAIL';
  if (obs.error !== null) return [fail(DNS_CHECK_ID, `${path} can't be read (${obs.error}): ${consequence}`, `sudo chmod 644 ${path}`)];
  if (text === null) return [fail(DNS_CHECK_ID, `${path} is missing: ${consequence}`, RESOLV_FIX(path))];
  if (obs.mode !== null && (obs.mode & 0o004) === 0)
    return [
      fail(
        DNS_CHECK_ID,
        `${path} is not readable by other users (mode ${obs.mode.toString(8).padStart(4, '0')}): the resolver runs as an unprivileged user, so ${consequence}`,
        `sudo chmod 644 ${path}`,
      ),
    ];
  if (parseResolvConf(text).length === 0) return [warn(DNS_CHECK_ID, `${path} lists no nameserver: ${consequence}`, RESOLV_FIX(path))];
  const upstreams = upstreamsFrom(text, [ip]);
  if (upstreams.length === 0)
    return [warn(DNS_CHECK_ID, `${path} lists only the alias ${ip} itself: the resolver would ask itself, so ${consequence}`, RESOLV_FIX(path))];
  return [ok(DNS_CHECK_ID, `${path} is readable: the resolver forwards other names to ${upstreams.map((u) => u.address).join(', ')}`)];
}

/** Reads the host's resolv.conf through the context's files (under --root/--files-root there). Read-only. */
export async function observeResolvConf(input: DoctorInput): Promise<ResolvConfObserved> {
  const fs = input.ctx.fs;
  const path = fs.resolve(RESOLV_CONF);
  try {
    return { path, text: await fs.read(RESOLV_CONF), error: null, mode: await fs.mode(RESOLV_CONF) };
  } catch (err) {
    return { path, text: null, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message, mode: null };
  }
}
