import type { Context } from '../model/context.js';

export interface BridgeObservation {
  bridges: string[];
  /** Why the list is what it is (for notes and --verbose). */
  reason: string;
}

/**
 * The Linux bridges behind Docker's bridge networks, as Docker itself names them
 * (`com.docker.network.bridge.name`, else br-<id12>; docker0 for `bridge`). A bare `br-*`
 * pattern would also trust a LAN bridge such as br-lan. Read-only; Docker not running means no
 * bridges (not an error: the guard then admits only lo and --allow-iface).
 */
export async function observeDockerBridges(ctx: Context): Promise<BridgeObservation> {
  const ls = await ctx.runner.run(['docker', 'network', 'ls', '-q', '--no-trunc', '--filter', 'driver=bridge']);
  if (ls.code !== 0) {
    const why = ls.code === 127 ? 'docker is not installed' : `docker did not answer (${(ls.stderr || ls.stdout).trim().split('\n')[0] ?? ''})`;
    return { bridges: [], reason: `container bridges: none (${why})` };
  }
  const ids = ls.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  if (ids.length === 0) return { bridges: [], reason: 'container bridges: none (Docker has no bridge network)' };
  const fmt = '{{.Id}} {{.Name}} {{index .Options "com.docker.network.bridge.name"}}';
  const res = await ctx.runner.run(['docker', 'network', 'inspect', '--format', fmt, ...ids]);
  // A network removed between ls and inspect makes inspect fail; the next refresh sees the truth.
  const bridges = parseBridgeLines(res.stdout);
  return { bridges, reason: `container bridges: ${bridges.join(', ') || 'none'} (from docker network inspect)` };
}

/** Parses `ID NAME BRIDGE-OPTION` lines. Pure. */
export function parseBridgeLines(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [id, name, option] = line.trim().split(/\s+/);
    if (!id || !name) continue;
    if (option && option !== '<no' && option !== '<no value>') out.add(option);
    else out.add(name === 'bridge' ? 'docker0' : `br-${id.slice(0, 12)}`);
  }
  return [...out].sort();
}
