import { DEFAULT_IP, DEFAULT_NAMES } from './address.js';

/** Linux kinds, then macOS's `launchd`; each backend refuses the other's kinds. */
export const PERSIST_KINDS = ['systemd', 'networkd', 'netplan', 'ifupdown', 'networkmanager', 'launchd', 'none'] as const;
export type PersistKind = (typeof PERSIST_KINDS)[number];
export type PersistChoice = PersistKind | 'auto';

export type FirewallChoice = 'auto' | 'nftables' | 'iptables';

/** How an exposed port is carried: kernel DNAT to 127.0.0.1, or a managed relay to 127.0.0.1 / ::1. */
export type ExposeVia = 'kernel' | 'relay';

export interface ExposeSpec {
  port: number;
  proto: 'tcp' | 'udp';
  /** Port on the loopback that receives the traffic. */
  to: number;
  keepSource: boolean;
  /** Absent in states written before relays carried exposes: kernel. */
  via?: ExposeVia;
}

/**
 * `expose --all`: every TCP and UDP port of the loopback reachable at ALIAS:PORT through kernel
 * rules (services on 127.0.0.1 or a wildcard; a service on ::1 only needs `expose PORT`, which
 * relays it), but the ports kept out: EXPOSE_ALL_KEPT_OUT always, and `except`.
 */
export interface ExposeAllSpec {
  /** Ports kept out as asked (`--except`), TCP and UDP alike; sorted, no repeats. */
  except: number[];
}

/**
 * Ports `expose --all` never opens to containers unless exposed one by one: those that would hand a
 * container the host itself, the Docker and Podman APIs on TCP (2375 plain, 2376 TLS).
 */
export const EXPOSE_ALL_KEPT_OUT: ReadonlyArray<{ port: number; why: string }> = [
  { port: 2375, why: 'the Docker/Podman API without TLS: root on this host' },
  { port: 2376, why: 'the Docker/Podman API with TLS: root on this host' },
];

/**
 * Where the loopback relay of `expose --all` listens: connections for ports whose service listens
 * on ::1 only are redirected here by the firewall, and the relay asks the kernel which port they
 * were for (SO_ORIGINAL_DST). A privileged port (only root binds it, so a dev server never takes it
 * first) that IANA keeps for experiments.
 */
export const LOOPBACK_RELAY = { host: '127.0.0.1', port: 1022 } as const;

/** More relay processes than this only adds memory and contention (an unbounded --workers once forked without limit). */
export const MAX_WORKERS = 64;

export const FORWARD_SCHEDULES = ['kernel', 'round-robin'] as const;
export type ForwardSchedule = (typeof FORWARD_SCHEDULES)[number];

/** Upper bound of the relay's numeric options (counts, seconds, milliseconds). */
export const MAX_FORWARD_OPTION = 1_000_000_000;

/**
 * A userspace relay installed as a service (`hostalias forward --install`). `targets` are
 * HOST:PORT strings (empty: 127.0.0.1:PORT); `listen` unset means the alias.
 */
export interface ForwardSpec {
  port: number;
  proto: 'tcp' | 'udp';
  targets: string[];
  listen?: string;
  workers?: number;
  /**
   * The relay's own options, stored only when given on the command line so the service runs with
   * exactly them (`--install` once dropped them); unset means the relay's default.
   */
  schedule?: ForwardSchedule;
  connectTimeoutMs?: number;
  idleTimeoutS?: number;
  maxConnections?: number;
  maxSessions?: number;
  graceS?: number;
  /**
   * Set on the relay that carries an `expose … via relay` (derived from `exposes`, never stored
   * in `forwards`): its command line says so, which lets it run on a port that is exposed.
   */
  forExpose?: boolean;
}

/** The relay's defaults for the options a ForwardSpec leaves unset (the caps come from the open-files limit at run time). */
export const RELAY_DEFAULTS = { schedule: 'kernel', connectTimeoutMs: 5000, idleTimeoutS: 60, graceS: 10 } as const;

export type RelayOptionKey = 'workers' | 'schedule' | 'connectTimeoutMs' | 'idleTimeoutS' | 'maxConnections' | 'maxSessions' | 'graceS';

/**
 * The relay options a ForwardSpec stores, as `forward` takes them (`attr`: commander's name for
 * the flag), in the order an installed service's command line lists them. `example` marks a
 * positive whole number (shown in the fix of a bad value); the schedule is one of FORWARD_SCHEDULES.
 */
export const RELAY_OPTIONS: ReadonlyArray<{ key: RelayOptionKey; flag: string; attr: string; example?: string; max?: number }> = [
  { key: 'workers', flag: '--workers', attr: 'workers', example: '2', max: MAX_WORKERS },
  { key: 'schedule', flag: '--schedule', attr: 'schedule' },
  { key: 'connectTimeoutMs', flag: '--connect-timeout', attr: 'connectTimeout', example: '5000' },
  { key: 'idleTimeoutS', flag: '--idle-timeout', attr: 'idleTimeout', example: '60' },
  { key: 'maxConnections', flag: '--max-connections', attr: 'maxConnections', example: '1000' },
  { key: 'maxSessions', flag: '--max-sessions', attr: 'maxSessions', example: '4096' },
  { key: 'graceS', flag: '--grace', attr: 'grace', example: '10' },
];

/**
 * Everything the user asked for: what `up` converges the system to. It is stored in the state,
 * so flags given once stay in force until changed (`up` again with no flags changes nothing).
 */
export interface Desired {
  ip: string;
  label: string;
  names: string[];
  persist: PersistChoice;
  hostsFile: boolean;
  dockerDaemon: boolean;
  /** Restart the Docker daemon whenever hostalias changes daemon.json (`up` and `down`). */
  restartDocker: boolean;
  /** Drop traffic for the alias unless it arrives on lo or a container bridge. */
  lanGuard: boolean;
  allowIfaces: string[];
  exposes: ExposeSpec[];
  /** Which packet filter carries the guard and exposed ports (`auto`: nft when found, else iptables). */
  firewall: FirewallChoice;
  /** Userspace relays run as services; `down` stops and removes them. */
  forwards: ForwardSpec[];
  /** A DNS resolver on ALIAS:53 that container engines use (`up --dns`). */
  dns: boolean;
  /** Users whose rootless engines (Docker, Podman) use the resolver too (`--dns-user`). */
  dnsUsers: string[];
  /** `expose --all` (absent: off). */
  exposeAll?: ExposeAllSpec;
}

export function defaultDesired(): Desired {
  return {
    ip: DEFAULT_IP,
    label: 'lo:hostalias',
    names: [...DEFAULT_NAMES],
    persist: 'auto',
    hostsFile: false,
    dockerDaemon: false,
    restartDocker: false,
    lanGuard: true,
    allowIfaces: [],
    exposes: [],
    firewall: 'auto',
    forwards: [],
    dns: false,
    dnsUsers: [],
  };
}
