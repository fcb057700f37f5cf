import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Context } from '../../model/context.js';
import type { EngineFlavour } from '../../model/engine.js';
import { resolveEngineEndpoint } from '../../docker/engine-api.js';
import { readLiveFile } from '../../fs/system-fs.js';
import { listMacAddresses } from './ifconfig.js';

/**
 * Which way a Lima VM (Colima, Lima, Rancher Desktop) sends a container's connection to the alias.
 * The alias is no address of the VM, so it follows the VM's default route, which Lima gives the
 * lowest-metric network: the user-mode network (eth0) has metric 200 (Lima pkg/cidata/cidata.go),
 * a `networks:` entry 100 unless it says otherwise (pkg/limayaml/defaults.go; templates/default.yaml:
 * "lowest metric becomes the preferred route"). Through the user-mode network Lima's host agent
 * (gvisor-tap-vsock) dials the alias from this Mac itself (pkg/services/forwarder/tcp.go: net.Dial),
 * so the connection arrives on lo0; through a vmnet/vzNAT network it arrives on that network's
 * bridge (bridge100, …) — where an `rdr on lo0` does not apply and the LAN guard drops it unless
 * that bridge is trusted.
 */
export interface VmRoute {
  /** The alias is reached through a vmnet/vzNAT bridge, not the user-mode network. */
  bridged: boolean;
  /** Why, in words naming the setting. */
  why: string;
}

const USER_MODE_METRIC = 200;

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

/**
 * Colima's own configuration (PROFILE/colima.yaml, embedded/defaults/colima.yaml). Colima gives
 * Lima a user-v2 network (eth0, metric 200) and, with `network.address`, a second one (col0)
 * with metric 300, or 100 with `network.preferredRoute` (environment/vm/lima/yaml.go,
 * limautil/network.go NetMetric/NetMetricPreferred). Null when the text is not a Colima config. Pure.
 */
export function colimaRoute(configYaml: string): VmRoute | null {
  let doc: unknown;
  try {
    doc = parseYaml(configYaml);
  } catch {
    return null;
  }
  if (Object.keys(record(doc)).length === 0) return null;
  const network = record(record(doc)['network']);
  if (network['address'] !== true) return { bridged: false, why: 'network.address is off: the VM has only its user-mode network (user-v2)' };
  if (network['preferredRoute'] !== true)
    return {
      bridged: false,
      why: `network.address is on without preferredRoute: col0 gets route metric 300, so user-v2 (metric ${USER_MODE_METRIC}) stays the default route`,
    };
  return {
    bridged: true,
    why: `network.preferredRoute is on: col0 gets route metric 100, below user-v2's ${USER_MODE_METRIC}, so the VM's default route leaves through vmnet`,
  };
}

/** A Lima instance's lima.yaml: any `networks:` entry below metric 200 takes the default route. Null when unreadable. Pure. */
export function limaRoute(limaYaml: string): VmRoute | null {
  let doc: unknown;
  try {
    doc = parseYaml(limaYaml);
  } catch {
    return null;
  }
  const networks = record(doc)['networks'];
  if (!Array.isArray(networks) || networks.length === 0) return { bridged: false, why: 'lima.yaml has no `networks:`: only the user-mode network' };
  const preferred = networks
    .map(record)
    .filter((n) => n['lima'] !== 'user-v2')
    .map((n) => ({
      name: String(n['interface'] ?? n['lima'] ?? (n['vzNAT'] ? 'vzNAT' : n['socket']) ?? 'a network'),
      metric: typeof n['metric'] === 'number' ? n['metric'] : 100,
    }))
    .filter((n) => n.metric < USER_MODE_METRIC);
  if (preferred.length === 0) return { bridged: false, why: `every extra network in lima.yaml has a metric of ${USER_MODE_METRIC} or more` };
  return {
    bridged: true,
    why: `lima.yaml's network ${preferred[0]?.name} has metric ${preferred[0]?.metric}, below the user-mode network's ${USER_MODE_METRIC}`,
  };
}

/**
 * The VM's route for `flavour`, read from the product's configuration next to the docker socket
 * the CLI uses: Colima keeps docker.sock in its profile folder beside colima.yaml
 * (config/profile.go ConfigDir), Lima in INSTANCE/sock/docker.sock below INSTANCE/lima.yaml.
 * Null when it can't be told (another socket layout, a file that doesn't parse). Read-only; reads
 * the user's files, writes nothing.
 */
export async function observeVmRoute(ctx: Context, flavour: EngineFlavour): Promise<{ route: VmRoute; file: string } | null> {
  const endpoint = await resolveEngineEndpoint(ctx.env).catch(() => null);
  if (!endpoint || !('socket' in endpoint)) return null;
  const dir = dirname(endpoint.socket);
  const [file, parse] =
    flavour === 'colima'
      ? [join(dir, 'colima.yaml'), colimaRoute]
      : flavour === 'lima' && dir.endsWith('/sock')
        ? [join(dirname(dir), 'lima.yaml'), limaRoute]
        : [null, null];
  if (!file || !parse) return null;
  const text = await readLiveFile(file);
  const route = text === null ? null : parse(text);
  return route ? { route, file } : null;
}

/** The bridge vmnet made on this Mac (`ifconfig -a`: bridge100, …) when there is exactly one with an address, else bridge100. */
export async function vmnetBridge(ctx: Context): Promise<string> {
  const bridges = new Set(
    (await listMacAddresses(ctx.runner).catch(() => [])).filter((a) => /^bridge\d+$/.test(a.ifname) && a.family === 'inet').map((a) => a.ifname),
  );
  return bridges.size === 1 ? ([...bridges][0] as string) : 'bridge100';
}
