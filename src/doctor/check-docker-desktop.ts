import { probeEngine } from '../docker/engine.js';
import type { Runner } from '../model/runner.js';
import { shellQuote } from '../model/shell.js';
import { defaultFix, type FixCommand } from '../model/invocation.js';
import type { EngineProbe } from '../model/engine.js';
import type { Check, Finding } from '../model/context.js';
import { fail, ok, warn } from '../model/finding.js';

/** What Docker Desktop does for host access, in the words `doctor` prints. Pure. */
export function describeDockerDesktop(ip: string, hostalias: FixCommand = defaultFix): string[] {
  return [
    "Docker Desktop runs the engine in a Linux VM; container connections to the host leave the VM through Desktop's host-side process (vpnkit / com.docker.backend), which opens them as ordinary connections on this machine.",
    `That is why ${ip} on lo0 works from containers: the connection is made locally to an address the Mac owns, and pf's rdr on lo0 (hostalias expose) applies to it too.`,
    'Desktop already resolves host.docker.internal (and host-gateway) to the host; hostalias adds one stable address you choose, the same on Linux and macOS, for names like local_host.',
    'Desktop manages its own daemon configuration (Settings → Docker Engine): hostalias never edits it, and --docker-daemon is refused.',
    `Services listening only on 127.0.0.1 are not reachable at ${ip}: expose them (${hostalias('expose PORT')}) or bind them to ${ip}.`,
  ];
}

/**
 * The probe: a throwaway container connects to ip:port through Desktop (`nc -e true` exits 0 right
 * after the connection opens, so nothing is sent). Needs a listener on the host at that port.
 */
export function desktopProbeArgv(ip: string, port: number, image = 'busybox'): string[] {
  return ['docker', 'run', '--rm', image, 'nc', '-w', '3', '-e', 'true', ip, String(port)];
}

export interface DesktopReach {
  /** Docker Desktop serves the docker CLI here. */
  desktop: boolean;
  reachable: boolean | null;
  detail: string;
}

/**
 * Whether a container reaches ip:port through Docker Desktop. Read-only (runs a --rm container);
 * `reachable` is null when Desktop isn't the engine or the probe couldn't start.
 */
export async function checkAliasThroughDesktop(runner: Runner, ip: string, port: number, image = 'busybox'): Promise<DesktopReach> {
  return probeThroughDesktop(runner, await probeEngine(runner, { bridges: false }), ip, port, image);
}

async function probeThroughDesktop(runner: Runner, engine: EngineProbe, ip: string, port: number, image = 'busybox'): Promise<DesktopReach> {
  if (!engine.reachable) return { desktop: false, reachable: null, detail: `no Docker engine answered (${engine.error})` };
  if (engine.flavour !== 'desktop') return { desktop: false, reachable: null, detail: `the engine is not Docker Desktop (${engine.flavourReason})` };
  const argv = desktopProbeArgv(ip, port, image);
  const res = await runner.run(argv, { timeoutMs: 60_000 });
  if (res.code === 0) return { desktop: true, reachable: true, detail: `a container connected to ${ip}:${port} through Docker Desktop (${shellQuote(argv)})` };
  if (res.code === 125) return { desktop: true, reachable: null, detail: `the probe container didn't start: ${(res.stderr || res.stdout).trim()}` };
  return {
    desktop: true,
    reachable: false,
    detail: `a container could not connect to ${ip}:${port} through Docker Desktop: ${(res.stderr || res.stdout).trim() || `exit ${res.code}`}`,
  };
}

/**
 * A `doctor` check for Macs (and Windows/WSL with Desktop): explains Desktop and probes the alias
 * through it on the first exposed port, if any (a probe needs a listener).
 */
export const dockerDesktopCheck: Check = {
  id: 'docker-desktop',
  async run(input): Promise<Finding[]> {
    const { ctx, desired } = input;
    const port = desired.exposes[0]?.port;
    const engine = await input.engine();
    if (port === undefined) {
      if (!engine.reachable || engine.flavour !== 'desktop') return [];
      return [ok('docker-desktop', describeDockerDesktop(desired.ip, input.hostalias).join(' '))];
    }
    const reach = await probeThroughDesktop(ctx.runner, engine, desired.ip, port);
    if (!reach.desktop) return [];
    const about = ok('docker-desktop', describeDockerDesktop(desired.ip, input.hostalias).join(' '));
    if (reach.reachable === true) return [about, ok('docker-desktop', reach.detail)];
    if (reach.reachable === null) return [about, warn('docker-desktop', reach.detail, `docker pull busybox, then ${input.hostalias('doctor', 'user')} again`)];
    return [
      about,
      fail(
        'docker-desktop',
        reach.detail,
        `${input.hostalias('up')}, check that something listens on 127.0.0.1:${desired.exposes[0]?.to ?? port}, then ${shellQuote(desktopProbeArgv(desired.ip, port))}`,
      ),
    ];
  },
};
