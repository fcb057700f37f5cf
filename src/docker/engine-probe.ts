/**
 * A read-only probe of the Docker engine the `docker` CLI talks to (it honours DOCKER_HOST and
 * DOCKER_CONTEXT by itself). Kept small and separate so it can be swapped for src/docker's probe.
 */
import type { Runner } from '../exec/runner.js';
import type { BridgeNetwork, EngineProbe } from '../model/engine.js';

export type { BridgeNetwork, EngineProbe };

interface VersionJson {
  Client?: { Version?: string };
  Server?: { Version?: string; Platform?: { Name?: string } } | null;
}

interface InfoJson {
  OperatingSystem?: string;
  SecurityOptions?: string[] | null;
  Name?: string;
}

interface NetworkJson {
  Name?: string;
  Id?: string;
  Driver?: string;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null };
}

/** Bridge networks from `docker network inspect` JSON. Pure. */
export function parseBridges(text: string): BridgeNetwork[] {
  const nets = JSON.parse(text || '[]') as NetworkJson[];
  return nets
    .filter((n) => n.Driver === 'bridge')
    .map((n) => ({
      name: n.Name ?? '?',
      iface: n.Options?.['com.docker.network.bridge.name'] || (n.Name === 'bridge' ? 'docker0' : `br-${(n.Id ?? '').slice(0, 12)}`),
      subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s !== ''),
      gateways: (n.IPAM?.Config ?? []).map((c) => c.Gateway ?? '').filter((s) => s !== ''),
    }));
}

/** Facts from `docker version` and `docker info` JSON. Pure. */
export function parseEngine(versionText: string, infoText: string): { serverVersion: string; clientVersion: string; os: string; rootless: boolean; desktop: boolean } {
  const v = JSON.parse(versionText) as VersionJson;
  const info = JSON.parse(infoText || '{}') as InfoJson;
  const os = info.OperatingSystem ?? '';
  const platform = v.Server?.Platform?.Name ?? '';
  return {
    serverVersion: v.Server?.Version ?? 'unknown',
    clientVersion: v.Client?.Version ?? 'unknown',
    os,
    rootless: (info.SecurityOptions ?? []).some((o) => /(^|,)name=rootless(,|$)/.test(o)),
    desktop: /Docker Desktop/i.test(os) || /Docker Desktop/i.test(platform) || info.Name === 'docker-desktop',
  };
}

/** Asks the engine for its version, mode and bridge networks. Read-only; never throws for an absent engine. */
export async function probeEngine(runner: Runner): Promise<EngineProbe> {
  const version = await runner.run(['docker', 'version', '--format', '{{json .}}'], { timeoutMs: 15_000 });
  if (version.code === 127) return { reachable: false, cliMissing: true, error: 'the docker CLI is not installed' };
  // `docker version` prints the client part and exits non-zero when the server doesn't answer.
  const serverMissing = version.code !== 0 || !/"Server":\{/.test(version.stdout);
  if (serverMissing) return { reachable: false, cliMissing: false, error: (version.stderr || version.stdout).trim() || `docker version exited ${version.code}` };
  const info = await runner.run(['docker', 'info', '--format', '{{json .}}'], { timeoutMs: 15_000 });
  const facts = parseEngine(version.stdout, info.code === 0 ? info.stdout : '{}');
  const ids = await runner.run(['docker', 'network', 'ls', '--quiet', '--filter', 'driver=bridge'], { timeoutMs: 15_000 });
  const idList = ids.code === 0 ? ids.stdout.split('\n').filter((s) => s.trim() !== '') : [];
  const nets = idList.length > 0 ? await runner.run(['docker', 'network', 'inspect', ...idList], { timeoutMs: 15_000 }) : null;
  return { reachable: true, ...facts, bridges: nets && nets.code === 0 ? parseBridges(nets.stdout) : [] };
}
