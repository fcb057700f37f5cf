/** What a probe of the container engine found (docker/engine.ts asks; doctor and parts read). */
export interface BridgeNetwork {
  name: string;
  /** The Linux bridge: the network's `com.docker.network.bridge.name`, else docker0 / br-<id12>. */
  iface: string;
  subnets: string[];
  gateways: string[];
}

/**
 * Which product serves the engine. Desktop, OrbStack and Colima run dockerd in their own VM and
 * manage its configuration; Podman answers Docker's API but reads no daemon.json.
 */
export type EngineFlavour = 'engine' | 'desktop' | 'orbstack' | 'colima' | 'rancher' | 'lima' | 'podman';

export const FLAVOUR_NAMES: Record<EngineFlavour, string> = {
  engine: 'Docker Engine',
  desktop: 'Docker Desktop',
  orbstack: 'OrbStack',
  colima: 'Colima',
  rancher: 'Rancher Desktop',
  lima: 'Lima',
  podman: 'Podman',
};

/** What `docker version`, `docker info` and `docker context show` say about a running engine. */
export interface EngineFacts {
  serverVersion: string;
  clientVersion: string;
  os: string;
  rootless: boolean;
  flavour: EngineFlavour;
  /** Why that flavour (which field said so), for notes and --verbose. */
  flavourReason: string;
}

export type EngineProbe =
  | ({ reachable: true; bridges: BridgeNetwork[] } & EngineFacts)
  | {
      reachable: false;
      cliMissing: boolean;
      error: string;
      /** `dockerd --version` when the engine doesn't answer: what would answer once started. */
      installed: { version: string; source: string } | null;
    };
