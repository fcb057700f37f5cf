import type { Runner } from '../model/runner.js';
import type { BridgeNetwork } from '../model/engine.js';

interface NetworkJson {
  Name?: string;
  Id?: string;
  Driver?: string;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null };
}

/**
 * Bridge networks from `docker network inspect` JSON, with the Linux bridge as Docker itself names
 * it (`com.docker.network.bridge.name`, else br-<id12>; docker0 for `bridge`). A bare `br-*`
 * pattern would also trust a LAN bridge such as br-lan. Pure.
 */
export function parseBridges(text: string): BridgeNetwork[] {
  const nets = JSON.parse(text.trim() || '[]') as NetworkJson[];
  return nets
    .filter((n) => n.Driver === 'bridge')
    .map((n) => ({
      name: n.Name ?? '?',
      iface: n.Options?.['com.docker.network.bridge.name'] || (n.Name === 'bridge' ? 'docker0' : `br-${(n.Id ?? '').slice(0, 12)}`),
      subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s !== ''),
      gateways: (n.IPAM?.Config ?? []).map((c) => c.Gateway ?? '').filter((s) => s !== ''),
    }));
}

function parseBridgesLenient(text: string): BridgeNetwork[] {
  try {
    return parseBridges(text);
  } catch {
    return [];
  }
}

/** The distinct bridge interfaces, sorted. Pure. */
export function bridgeIfaces(nets: readonly BridgeNetwork[]): string[] {
  return [...new Set(nets.map((n) => n.iface))].sort();
}

export interface BridgeObservation {
  networks: BridgeNetwork[];
  /** False when the engine did not answer (hung, stopped, erroring): the list is then unknown, not empty. */
  answered: boolean;
  /** Why the list is what it is (for notes and --verbose). */
  reason: string;
}

/**
 * The engine's bridge networks. Read-only; Docker absent or not running means none (not an error:
 * the guard then admits only lo and --allow-iface). `timeoutMs` bounds each docker call.
 */
export async function listBridges(runner: Runner, timeoutMs: number): Promise<BridgeObservation> {
  const ls = await runner.run(['docker', 'network', 'ls', '-q', '--no-trunc', '--filter', 'driver=bridge'], { timeoutMs });
  if (ls.code !== 0) {
    const why = ls.code === 127 ? 'docker is not installed' : `docker did not answer (${(ls.stderr || ls.stdout).trim().split('\n')[0] ?? ''})`;
    return {
      networks: [],
      answered: ls.code === 127,
      reason: `container bridges: ${ls.code === 127 ? 'none' : 'unknown'} (${why}${ls.timedOut ? ', killed after the timeout' : ''})`,
    };
  }
  const ids = ls.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (ids.length === 0) return { networks: [], answered: true, reason: 'container bridges: none (Docker has no bridge network)' };
  const res = await runner.run(['docker', 'network', 'inspect', ...ids], { timeoutMs });
  // A network removed between ls and inspect makes inspect fail; the next refresh sees the truth.
  // inspect still prints the networks it found, so its stdout is read whatever the status.
  const networks = parseBridgesLenient(res.stdout);
  if (res.timedOut)
    return { networks: [], answered: false, reason: 'container bridges: unknown (docker network inspect got no answer, killed after the timeout)' };
  return { networks, answered: true, reason: `container bridges: ${bridgeIfaces(networks).join(', ') || 'none'} (from docker network inspect)` };
}

/**
 * The Linux bridges of rootful Podman's networks (CNI's `cni-podman0`, netavark's `podman0`, and
 * user networks). Read-only; Podman missing means none. Rootless Podman's networks live in the
 * user's own namespace and never reach the host through a bridge.
 */
async function listPodmanBridges(runner: Runner, timeoutMs: number): Promise<{ ifaces: string[]; answered: boolean; reason: string }> {
  const ls = await runner.run(['podman', 'network', 'ls', '--format', '{{.NetworkInterface}} {{.Driver}}'], { timeoutMs });
  if (ls.code !== 0) {
    const why = ls.code === 127 ? 'podman is not installed' : `podman did not answer (${(ls.stderr || ls.stdout).trim().split('\n')[0] ?? ''})`;
    return { ifaces: [], answered: ls.code === 127, reason: `podman bridges: ${ls.code === 127 ? 'none' : 'unknown'} (${why})` };
  }
  const ifaces = parsePodmanNetworkLines(ls.stdout);
  return { ifaces, answered: true, reason: `podman bridges: ${ifaces.join(', ') || 'none'} (from podman network ls)` };
}

/** Parses `INTERFACE DRIVER` lines of `podman network ls --format '{{.NetworkInterface}} {{.Driver}}'`. Pure. */
export function parsePodmanNetworkLines(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [iface, driver] = line.trim().split(/\s+/);
    if (iface && driver === 'bridge') out.add(iface);
  }
  return [...out].sort();
}

/**
 * Docker's and rootful Podman's bridge interfaces together, sorted. Read-only. `answered` is
 * false when an installed engine did not answer: the list is then incomplete, not empty.
 */
export async function listContainerBridges(runner: Runner, timeoutMs: number): Promise<{ ifaces: string[]; answered: boolean; reason: string }> {
  const [docker, podman] = await Promise.all([listBridges(runner, timeoutMs), listPodmanBridges(runner, timeoutMs)]);
  return {
    ifaces: [...new Set([...bridgeIfaces(docker.networks), ...podman.ifaces])].sort(),
    answered: docker.answered && podman.answered,
    reason: `${docker.reason}; ${podman.reason}`,
  };
}
