import { LOOPBACK_RELAY, type Desired, type ExposeSpec } from '../../../model/config.js';
import { keptOut, kernelExposes } from '../../../model/expose.js';

/**
 * What the firewall part converges to. Container networks are trusted by what they
 * are, not by a list made at plan time: any interface the kernel reports as a bridge
 * (`meta iifkind "bridge"`), so a network created later (`docker network create`, a compose
 * project, a Podman network) works from its first packet with no refresh. What is excluded is
 * known when planning: `lan`, the bridges that exist then and are not container networks (a
 * bridge with a physical port, br0, br-lan, vmbr0, virbr0). `allowed` (`--allow-iface`) are
 * trusted whatever their kind and even when listed in `lan`.
 */
export interface FirewallSpec {
  ip: string;
  guard: boolean;
  allowed: string[];
  lan: string[];
  /**
   * Container bridges by name, for the iptables fallback only (iptables cannot match an
   * interface's kind): the ones the engines report, and their naming patterns (`br-+`, …).
   */
  containerBridges: string[];
  /** The bridges the engines reported, recorded so that a silent engine later keeps them trusted. */
  engineBridges?: string[];
  exposes: ExposeSpec[];
  /**
   * `expose --all`: one rule DNATs every other port of the alias to the same port on 127.0.0.1,
   * but `keptOut` (model/expose.ts keptOut). Ports in the relay set (TCP services on ::1 only, kept
   * current by the loopback relay's watcher) go to `relayPort` on 127.0.0.1 instead, and ports in
   * the direct set (sockets on the alias itself) are left alone.
   */
  all: { keptOut: number[]; relayPort: number } | null;
}

/** The ports the firewall rewrites to 127.0.0.1: exposes with kernel rules, or `expose --all`. Pure. */
export function hasKernelRules(s: Pick<FirewallSpec, 'exposes' | 'all'>): boolean {
  return s.exposes.length > 0 || s.all !== null;
}

/** A link as `ip -j -d link show` reports it, reduced to what bridge classification needs. */
export interface LinkFacts {
  name: string;
  /** `linkinfo.info_kind`: "bridge", "veth", "tun", …; "" for a physical NIC. */
  kind: string;
  /** The bridge it is a port of, if any. */
  master: string | null;
}

/** Names container engines give their bridges: Docker's docker0 / br-<id12>, Podman's cni-podmanN / podmanN. */
export const CONTAINER_BRIDGE_PATTERNS: ReadonlyArray<{ re: RegExp; iptables: string }> = [
  { re: /^docker0$/, iptables: 'docker0' },
  { re: /^br-[0-9a-f]{12}$/, iptables: 'br-+' },
  { re: /^cni-podman\d+$/, iptables: 'cni-podman+' },
  { re: /^podman\d+$/, iptables: 'podman+' },
];

export interface BridgeClasses {
  /** Bridges that are container networks: every port a veth (or none), and an engine reports it or it has an engine's name. */
  container: string[];
  /** Every other bridge: not trusted. */
  lan: string[];
  /** Why each LAN bridge is one, for notes and doctor. */
  reasons: Record<string, string>;
}

/**
 * Sorts the bridges that exist now into container networks and LAN bridges. A bridge with a port
 * that is not a veth (a NIC, a VM's tap, a VXLAN) carries traffic from outside the host: LAN,
 * whatever its name. A veth-only bridge is a container network when an engine reports it
 * (`engineBridges`) or when its name is one an engine gives (for when the engine is stopped).
 * Pure.
 */
export function classifyBridges(links: readonly LinkFacts[], engineBridges: readonly string[]): BridgeClasses {
  const out: BridgeClasses = { container: [], lan: [], reasons: {} };
  const reported = new Set(engineBridges);
  for (const b of links
    .filter((l) => l.kind === 'bridge')
    .map((l) => l.name)
    .sort()) {
    const foreign = links
      .filter((l) => l.master === b && l.kind !== 'veth')
      .map((l) => l.name)
      .sort();
    if (foreign.length > 0) {
      out.lan.push(b);
      out.reasons[b] = `has a port that is not a container's veth: ${foreign.join(', ')}`;
    } else if (reported.has(b) || CONTAINER_BRIDGE_PATTERNS.some((p) => p.re.test(b))) {
      out.container.push(b);
    } else {
      out.lan.push(b);
      out.reasons[b] = "no container engine reports it and its name is not an engine's";
    }
  }
  return out;
}

/**
 * The spec for `desired`, or null when no rule is wanted (no guard, no exposed port). Exposes
 * carried by a relay need no rule: the guard already admits container bridges to the
 * alias. `bridges`
 * is `classifyBridges` of the links present now; `engineBridges` those the engines report
 * (for the iptables fallback's names). Pure.
 */
export function firewallSpec(
  desired: Desired | null,
  bridges: Pick<BridgeClasses, 'lan' | 'container'>,
  engineBridges: readonly string[] = [],
): FirewallSpec | null {
  const kernel = desired ? kernelExposes(desired.exposes) : [];
  if (!desired || (!desired.lanGuard && kernel.length === 0 && !desired.exposeAll)) return null;
  const allowed = [...new Set(desired.allowIfaces)].filter((i) => i !== 'lo').sort();
  const lan = bridges.lan.filter((b) => !allowed.includes(b)).sort();
  const patterns = CONTAINER_BRIDGE_PATTERNS.map((p) => p.iptables);
  const named = [...bridges.container, ...engineBridges].filter((b) => !lan.includes(b) && !CONTAINER_BRIDGE_PATTERNS.some((p) => p.re.test(b)));
  const containerBridges = [...patterns, ...[...new Set(named)].sort()];
  const exposes = kernel.sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
  const all = desired.exposeAll ? { keptOut: keptOut(desired), relayPort: LOOPBACK_RELAY.port } : null;
  return { ip: desired.ip, guard: desired.lanGuard, allowed, lan, containerBridges, engineBridges: [...new Set(engineBridges)].sort(), exposes, all };
}
