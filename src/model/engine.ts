/** What a probe of the container engine found (docker/engine-probe.ts asks; doctor reads). */
export interface BridgeNetwork {
  name: string;
  /** The Linux bridge: docker0 for `bridge`, br-<id12> for user networks. */
  iface: string;
  subnets: string[];
  gateways: string[];
}

export type EngineProbe =
  | { reachable: true; serverVersion: string; clientVersion: string; os: string; rootless: boolean; desktop: boolean; bridges: BridgeNetwork[] }
  | { reachable: false; cliMissing: boolean; error: string };

