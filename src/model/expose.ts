import {
  EXPOSE_ALL_KEPT_OUT,
  LOOPBACK_RELAY,
  type Desired,
  type ExposeAllSpec,
  type ExposeSpec,
  type ExposeVia,
  type FirewallChoice,
  type ForwardSpec,
} from './config.js';
import { HostaliasError, usageError } from './errors.js';
import { defaultFix, type FixCommand } from './invocation.js';
import { parsePort, parsePortProto } from './ports.js';

export const FIREWALL_CHOICES: readonly FirewallChoice[] = ['auto', 'nftables', 'iptables'];

export function describeExpose(e: ExposeSpec): string {
  return `${e.port}/${e.proto}`;
}

/** The fix a bad `expose` port names (ports.ts parsePortProto takes it). */
export const EXPOSE_EXAMPLE = 'hostalias expose 5432 (or 5432/tcp, 5353/udp)';

/** `expose --to PORT`: the port on the loopback. Pure. */
export function parseExposeTo(text: string): number {
  return parsePort(text, '--to port', 'hostalias expose 5432 --to 5433');
}

/** Parses the command line's expose; `via` is decided later (chooseExposeVia), from what listens. */
export function parseExpose(text: string, opts: { to?: string; keepSource?: boolean } = {}): ExposeSpec {
  const { port, proto } = parsePortProto(text, EXPOSE_EXAMPLE);
  const to = opts.to === undefined ? port : parseExposeTo(opts.to);
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

/** One listening socket, as a platform reports it (`address` as the kernel shows it: `::1`, `0.0.0.0`, `::ffff:127.0.0.1`). */
export interface PortListener {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
}

export type ExposeViaChoice = 'auto' | ExposeVia;
export const EXPOSE_VIA_CHOICES: readonly ExposeViaChoice[] = ['auto', 'kernel', 'relay'];

export interface ExposeDecision {
  via: ExposeVia;
  /** Why, in words the user reads after `expose` (`--verbose`-style reasoning, always shown). */
  reason: string;
  notes: string[];
}

/** A socket the kernel path (DNAT to 127.0.0.1) reaches: 127.0.0.1, or a wildcard (`::` is dual-stack on Linux by default). */
function reachedByKernel(address: string): boolean {
  return address === '127.0.0.1' || address === '::ffff:127.0.0.1' || address === '0.0.0.0' || address === '::';
}

function describeListeners(on: readonly PortListener[]): string {
  return [...new Set(on.map((l) => (l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`)))].join(', ');
}

/**
 * Kernel rules or a relay for `spec`. The kernel has no route_localnet for IPv6: a
 * packet for ::1 from a container's interface is always dropped, so a service on [::1] only can be
 * reached through a userspace relay alone. Auto: kernel when something listens where DNAT reaches
 * (127.0.0.1 or a wildcard: faster, no process, `--keep-source` possible); a relay when only ::1
 * listens, and also when nothing listens yet, because the relay tries 127.0.0.1 and ::1 and
 * follows the service to whichever family it starts on. `listeners` null: unknown (the platform
 * can't list them, or an image is built with --root): kernel, the path that needs no listener list.
 * `relays` says whether a relay can run here as a service: where no service manager runs (a
 * container, WSL without systemd) its unit would never start, so a port that needs one is refused
 * (exit 7) with the way that works, a relay in the foreground, and a port nothing listens on yet
 * gets kernel rules. Pure; throws a usage error for `--keep-source` with a relay.
 */
export function chooseExposeVia(
  choice: ExposeViaChoice,
  spec: ExposeSpec,
  listeners: readonly PortListener[] | null,
  unknown?: { via: ExposeVia; reason: string },
  hostalias: FixCommand = defaultFix,
  relays: ServiceManager = { runs: true, why: '' },
): ExposeDecision {
  const on = (listeners ?? []).filter((l) => l.proto === spec.proto && l.port === spec.to);
  const v4 = on.some((l) => reachedByKernel(l.address));
  const v6only = !v4 && on.some((l) => l.address === '::1');
  const example = ['expose', describeExpose(spec)];
  const keepSourceError = (why: string) =>
    usageError(
      `--keep-source needs the kernel path, which reaches 127.0.0.1 only; ${why}`,
      `make the service listen on 127.0.0.1:${spec.to} too, or drop --keep-source (${hostalias(example)})`,
    );
  // The relay of an expose serves ALIAS:PORT and reaches 127.0.0.1 or ::1 on `to`: what `forward PORT --to TO` does in a terminal.
  const foreground = hostalias(['forward', describeExpose(spec), ...(spec.to !== spec.port ? ['--to', String(spec.to)] : [])], 'user');
  const noRelay = (why: string) =>
    new HostaliasError(
      'unsupported',
      `exposing ${describeExpose(spec)}: ${why}, and a relay can't start here: ${relays.why}, so its service would never run; nothing was changed`,
      `${foreground}  # the relay in the foreground (Ctrl-C stops it; containers reach ${describeExpose(spec)} while it runs)`,
    );
  if (choice === 'relay') {
    if (spec.keepSource) throw keepSourceError('--via relay connects from the relay itself');
    if (!relays.runs) throw noRelay('--via relay asks for a relay');
    return { via: 'relay', reason: 'chosen with --via relay', notes: [] };
  }
  if (choice === 'kernel') {
    const notes = v6only
      ? [
          `only [::1]:${spec.to} listens, which the kernel path can't reach: containers are refused until the service also listens on 127.0.0.1 (${hostalias([...example, '--via', 'relay'])} reaches it as it is)`,
        ]
      : [];
    return { via: 'kernel', reason: 'chosen with --via kernel', notes };
  }
  if (listeners === null) {
    // The platform's own default when it can't list listeners (macOS: the relay); --keep-source needs the kernel path.
    if (unknown?.via === 'relay' && !spec.keepSource) return { via: 'relay', reason: unknown.reason, notes: [] };
    return {
      via: 'kernel',
      reason: 'what listens was not read (this platform, or an image build): kernel rules to 127.0.0.1',
      notes: [`a service on [::1] only needs --via relay`],
    };
  }
  if (v4)
    return { via: 'kernel', reason: `${describeListeners(on.filter((l) => reachedByKernel(l.address)))} listens: kernel rules, no relay process`, notes: [] };
  if (spec.keepSource) {
    if (v6only) throw keepSourceError(`the service listens on [::1]:${spec.to} only`);
    return { via: 'kernel', reason: `nothing listens on port ${spec.to} yet; --keep-source needs the kernel path (127.0.0.1)`, notes: [] };
  }
  if (v6only) {
    if (!relays.runs) throw noRelay(`the service listens on [::1]:${spec.to} only, which no kernel rule can reach from a container`);
    return {
      via: 'relay',
      reason: `the service listens on [::1]:${spec.to} only, which no kernel rule can reach from a container: a relay carries it`,
      notes: [],
    };
  }
  if (!relays.runs)
    return {
      via: 'kernel',
      reason: `nothing listens on port ${spec.to} yet, and no relay can run as a service here (${relays.why}): kernel rules to 127.0.0.1`,
      notes: [`a service that starts on [::1]:${spec.to} only needs the relay in the foreground: ${foreground}`],
    };
  return {
    via: 'relay',
    reason: `nothing listens on port ${spec.to} yet: a relay reaches the service on 127.0.0.1 or ::1, whichever it starts on`,
    notes: [`once the service listens on 127.0.0.1:${spec.to}, ${hostalias(example)} again moves it to kernel rules (no relay process)`],
  };
}

/** Whether a service manager runs here to start relays (systemd, launchd), and why not. */
export interface ServiceManager {
  runs: boolean;
  /** Why none runs ("PID 1 is not systemd…"); empty when one does. */
  why: string;
}

/** The exposes carried by kernel rules (pf on macOS): those not relayed. Pure. */
export function kernelExposes(exposes: readonly ExposeSpec[]): ExposeSpec[] {
  return exposes.filter((e) => e.via !== 'relay');
}

/**
 * Every relay hostalias runs as a service: `forward --install` ones and those carrying an expose
 * via relay (same unit/job naming, so each platform's forward-services part installs, lists and
 * removes them alike). Sorted by port, then protocol. Pure.
 */
export function managedForwards(desired: Pick<Desired, 'forwards' | 'exposes'>): ForwardSpec[] {
  const relays = desired.exposes
    .filter((e) => e.via === 'relay')
    .map((e): ForwardSpec => ({ port: e.port, proto: e.proto, targets: e.to === e.port ? [] : [String(e.to)], forExpose: true }));
  return [...desired.forwards, ...relays].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

const same = (a: { port: number; proto: string }, port: number, proto: string) => a.port === port && a.proto === proto;

/**
 * `expose` on a port that a relay of the user's already serves would take its traffic silently
 * (kernel) or fail to listen (relay): refused, naming the fix. Our own expose relay is not a
 * conflict. Pure; throws a `conflict` error (exit 3).
 */
export function refuseExposeConflicts(
  desired: Desired,
  previous: Desired | null,
  spec: ExposeSpec,
  listeners: readonly PortListener[] | null,
  hostalias: FixCommand = defaultFix,
): void {
  const what = describeExpose(spec);
  if (desired.forwards.some((f) => same(f, spec.port, spec.proto))) {
    throw new HostaliasError(
      'conflict',
      `${what} is already relayed by \`hostalias forward ${what} --install\``,
      `${hostalias(['forward', what, '--uninstall'])}, then ${hostalias(['expose', what])} (expose reaches ::1 and 127.0.0.1 services alike)`,
    );
  }
  const ours = previous?.exposes.some((e) => same(e, spec.port, spec.proto) && e.via === 'relay') ?? false;
  const taken = (listeners ?? []).some((l) => same(l, spec.port, spec.proto) && (l.address === desired.ip || l.address === `::ffff:${desired.ip}`));
  if (taken && !ours) {
    throw new HostaliasError(
      'conflict',
      `something already listens on ${desired.ip}:${what} (a \`hostalias forward ${what}\` in a terminal?): the expose would take its traffic`,
      `stop it (ss -lntup 'sport = :${spec.port}' shows it), then ${hostalias(['expose', what])}`,
    );
  }
}

/**
 * `forward` on an exposed port never receives a packet (kernel rules rewrite it first) or fights
 * the expose relay for the port: refused, naming the fix, unless it is that relay itself
 * (`forExpose`) or listens elsewhere than the alias. Pure; throws a `conflict` error (exit 3).
 */
export function refuseForwardConflicts(
  desired: Desired,
  port: number,
  proto: 'tcp' | 'udp',
  listenHost: string,
  forExpose: boolean,
  hostalias: FixCommand = defaultFix,
): void {
  const e = desired.exposes.find((x) => same(x, port, proto));
  if (listenHost !== desired.ip && listenHost !== '0.0.0.0' && listenHost !== '::') return;
  if (!e && !forExpose && desired.exposeAll && !keptOut(desired).includes(port)) {
    throw new HostaliasError(
      'conflict',
      `${port}/${proto} is covered by \`expose --all\`, whose kernel rules rewrite ${desired.ip}:${port} to the loopback before a relay sees a packet: this forward would never receive one`,
      `containers already reach the service at ${desired.ip}:${port} (${hostalias('doctor', 'user')} shows it); to relay the port yourself, keep it out first: ${hostalias(['expose', '--all', '--except', [...desired.exposeAll.except, port].sort((a, b) => a - b).join(',')])}`,
    );
  }
  if (!e || (forExpose && e.via === 'relay')) return;
  const what = describeExpose(e);
  const why =
    e.via === 'relay'
      ? `${what} is exposed through hostalias's own relay, which already reaches the service on 127.0.0.1 or ::1`
      : `${what} is exposed with kernel rules, which rewrite ${desired.ip}:${port} to 127.0.0.1:${e.to} before a relay sees a packet: this forward would never receive one`;
  throw new HostaliasError(
    'conflict',
    why,
    `keep the expose (${hostalias('doctor', 'user')} shows whether containers reach the service), or remove it first: ${hostalias(['unexpose', what])}`,
  );
}

/** `--except 8080,9000` (repeatable) as sorted ports without repeats. Throws a usage error naming the fix. Pure. */
export function parseExceptPorts(texts: readonly string[]): number[] {
  const ports = texts.flatMap((t) =>
    t
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')
      .map((p) => parsePort(p, '--except port', 'hostalias expose --all --except 8080,9000')),
  );
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** The port `up --dns`'s resolver listens on at the alias (UDP and TCP). */
const RESOLVER_PORT = 53;

/** What `expose --all` needs of the configuration to know which ports it leaves alone. */
export type ExposeAllSetup = Pick<Desired, 'exposeAll' | 'exposes' | 'forwards' | 'ip'> & Partial<Pick<Desired, 'dns'>>;

/**
 * The ports `expose --all` leaves alone, TCP and UDP alike: EXPOSE_ALL_KEPT_OUT, `--except`, and
 * the ports hostalias's own sockets use at the alias, which keep working as they are: its relays
 * (`forward --install`, exposes via a relay) and, with `up --dns`, the resolver's 53. Sorted. Pure.
 */
export function keptOut(desired: ExposeAllSetup): number[] {
  const relays = managedForwards(desired)
    .filter((f) => f.listen === undefined || f.listen === desired.ip)
    .map((f) => f.port);
  const ports = [...EXPOSE_ALL_KEPT_OUT.map((k) => k.port), ...(desired.exposeAll?.except ?? []), ...relays, ...(desired.dns ? [RESOLVER_PORT] : [])];
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** Why `expose --all` keeps `port` out (one of keptOut's ports), in words. Pure. */
export function keptOutWhy(desired: ExposeAllSetup, port: number): string {
  return (
    EXPOSE_ALL_KEPT_OUT.find((k) => k.port === port)?.why ??
    (desired.exposeAll?.except.includes(port)
      ? '--except'
      : desired.dns && port === RESOLVER_PORT
        ? "hostalias's resolver (up --dns) listens on the alias there"
        : "hostalias's own relay listens on the alias there")
  );
}

/** `expose --all` already carries `port` (TCP and UDP) to the loopback service of the same port. Pure. */
export function coveredByAll(desired: ExposeAllSetup, port: number): boolean {
  return desired.exposeAll !== undefined && !keptOut(desired).includes(port);
}

/** `desired` with `expose --all` on (its `--except` list replaced) or off (null). Pure. */
export function withExposeAll(desired: Desired, all: ExposeAllSpec | null): Desired {
  const { exposeAll: _, ...rest } = desired;
  return all ? { ...rest, exposeAll: { except: [...all.except] } } : rest;
}

/** What listens now, sorted into what `expose --all` carries and how, for the command's report. */
export interface ExposeAllReport {
  /** Reached through kernel rules: something listens on 127.0.0.1 or a wildcard. */
  kernel: Array<{ proto: 'tcp' | 'udp'; port: number; on: string }>;
  /** TCP on ::1 only: through the loopback relay (hostalias serve), which the firewall sends them to. */
  relayed: number[];
  /**
   * On ::1 only and not relayed (UDP; TCP where the loopback relay can't run): the kernel rules
   * rewrite to 127.0.0.1, which these services don't listen on; `expose PORT` one by one relays them.
   */
  unreached: Array<{ proto: 'tcp' | 'udp'; port: number }>;
  /** Listening, but kept out (port, why). */
  keptOut: Array<{ proto: 'tcp' | 'udp'; port: number; why: string }>;
}

/** The kernel's view of "only ::1 listens on this port": no 127.0.0.1 or wildcard socket of the same protocol. */
export function loopbackV6Only(listeners: readonly PortListener[], proto: 'tcp' | 'udp', port: number): boolean {
  const on = listeners.filter((l) => l.proto === proto && l.port === port);
  return on.some((l) => l.address === '::1') && !on.some((l) => reachedByKernel(l.address));
}

/**
 * Sorts what listens now (`listeners`) into what `expose --all` reaches and how, and what it keeps
 * out, skipping sockets on the alias itself and the loopback relay's own. `loopbackRelay`: whether
 * the loopback relay runs here (a service manager starts it), which carries TCP services on ::1
 * only. Pure.
 */
export function reportExposeAll(desired: ExposeAllSetup, listeners: readonly PortListener[], loopbackRelay = false): ExposeAllReport {
  const out: ExposeAllReport = { kernel: [], relayed: [], unreached: [], keptOut: [] };
  const kept = keptOut(desired);
  const why = (port: number) => keptOutWhy(desired, port);
  const seen = new Set<string>();
  for (const l of [...listeners].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port)) {
    const key = `${l.proto}/${l.port}`;
    if (seen.has(key) || (l.proto === 'tcp' && l.port === LOOPBACK_RELAY.port && l.address === LOOPBACK_RELAY.host)) continue;
    const onPort = listeners.filter((x) => x.proto === l.proto && x.port === l.port);
    const loopback = onPort.filter((x) => reachedByKernel(x.address) || x.address === '::1');
    if (loopback.length === 0) continue; // on the alias or another address only: not the loopback's
    seen.add(key);
    if (kept.includes(l.port)) out.keptOut.push({ proto: l.proto, port: l.port, why: why(l.port) });
    else if (!loopbackV6Only(listeners, l.proto, l.port)) {
      const on = onPort.find((x) => reachedByKernel(x.address))?.address ?? '127.0.0.1';
      out.kernel.push({ proto: l.proto, port: l.port, on });
    } else if (l.proto === 'tcp' && loopbackRelay) out.relayed.push(l.port);
    else out.unreached.push({ proto: l.proto, port: l.port });
  }
  return out;
}

/** What the firewall's run-time sets of `expose --all` should hold (nft-ruleset.ts RELAY_SET, DIRECT_SET). */
export interface LoopbackSets {
  /** TCP ports whose service listens on ::1 only: redirected to the loopback relay. */
  relayed: number[];
  /** Sockets bound to the alias itself: left alone by the rule that sends every port to 127.0.0.1. */
  direct: Array<{ proto: 'tcp' | 'udp'; port: number }>;
}

/**
 * The sets for what listens now: ::1-only TCP ports not kept out (nor the relay's own port), and
 * the (protocol, port) of every socket on `ip`. Sorted, no repeats. Pure.
 */
export function loopbackSets(listeners: readonly PortListener[], ip: string, keptOutPorts: readonly number[], relayPort: number): LoopbackSets {
  const relayed = new Set<number>();
  const direct = new Map<string, { proto: 'tcp' | 'udp'; port: number }>();
  for (const l of listeners) {
    if (l.address === ip || l.address === `::ffff:${ip}`) direct.set(`${l.proto}/${l.port}`, { proto: l.proto, port: l.port });
    else if (l.proto === 'tcp' && l.address === '::1' && l.port !== relayPort && !keptOutPorts.includes(l.port) && loopbackV6Only(listeners, 'tcp', l.port))
      relayed.add(l.port);
  }
  return {
    relayed: [...relayed].sort((a, b) => a - b),
    direct: [...direct.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port),
  };
}
