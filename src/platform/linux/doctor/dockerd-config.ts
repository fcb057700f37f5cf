/**
 * Which daemon.json and --host-gateway-ip flags the running dockerd uses, from its command line.
 * Pure functions plus a live read of the process's own config file.
 */
import { DAEMON_JSON, GATEWAY_KEYS, parseDaemonJson } from '../../../docker/daemon-json.js';

/** The value of `--flag V` / `--flag=V` (every occurrence). Pure. */
export function flagValues(argv: readonly string[], ...names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    for (const n of names) {
      if (a === n && argv[i + 1] !== undefined) out.push(argv[i + 1] as string);
      else if (a.startsWith(`${n}=`)) out.push(a.slice(n.length + 1));
    }
  }
  return out;
}

const DEFAULT_HOSTS = ['', 'unix:///var/run/docker.sock', 'unix:///run/docker.sock', 'fd://'];

/**
 * The dockerd serving `dockerHost` among running ones: the one listening there (`-H`), else for the
 * default socket one started without -H (systemd's `-H fd://`). Pure.
 */
export function pickDockerd<T extends { argv: string[] }>(procs: readonly T[], dockerHost: string | undefined): T | null {
  const want = dockerHost?.trim() ?? '';
  const hostsOf = (p: T) => flagValues(p.argv, '-H', '--host');
  const exact = procs.find((p) => hostsOf(p).includes(want));
  if (exact) return exact;
  if (DEFAULT_HOSTS.includes(want)) return procs.find((p) => hostsOf(p).every((h) => DEFAULT_HOSTS.includes(h))) ?? null;
  return null;
}

export interface GatewayConfig {
  /** Addresses set by flag or daemon.json; empty means Docker's default (the docker0 gateway). */
  addresses: string[];
  source: string;
}

/** host-gateway addresses from dockerd flags and daemon.json text. Pure. */
export function gatewayFromConfig(argv: readonly string[], daemonJson: string | null, path: string): GatewayConfig {
  const flags = flagValues(argv, '--host-gateway-ip');
  if (flags.length > 0) return { addresses: flags, source: 'dockerd --host-gateway-ip' };
  const obj = parseDaemonJson(daemonJson, path);
  for (const key of GATEWAY_KEYS) {
    const v = obj[key];
    const list = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
    if (list.length > 0) return { addresses: list, source: `"${key}" in ${path}` };
  }
  return { addresses: [], source: daemonJson === null ? `no ${path}` : `no host-gateway key in ${path}` };
}

/** The config file a dockerd reads (its --config-file, else the default). Pure. */
export function configFileOf(argv: readonly string[]): string {
  return flagValues(argv, '--config-file').at(-1) ?? DAEMON_JSON;
}
