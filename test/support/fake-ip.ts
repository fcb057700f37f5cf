import { FakeRunner, fail, ok } from './fake-runner.js';

/*
 * `ip -j` output captured verbatim from real network namespaces (iproute2 6.1, Linux, Debian 12),
 * so the parsers and planners are tested against what the kernel really prints.
 */

/** A fresh namespace: `ip netns add N; ip -n N link set lo up; ip -j addr show`. */
export const ADDR_FRESH_NS =
  '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]';

/** After `ip addr replace 10.254.254.254/32 dev lo label lo:hostalias` plus a veth pair d0/d1 with 192.0.2.10/24 on d0. */
export const ADDR_ALIAS_AND_VETH =
  '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"10.254.254.254","prefixlen":32,"scope":"global","label":"lo:hostalias","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link":"d0","ifname":"d1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"02:b6:b7:ba:51:3f","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet6","local":"fe80::b6:b7ff:feba:513f","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":3,"link":"d1","ifname":"d0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"0a:b5:e7:d7:86:ea","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"family":"inet","local":"192.0.2.10","prefixlen":24,"scope":"global","label":"d0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::8b5:e7ff:fed7:86ea","prefixlen":64,"scope":"link","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295}]}]';

/** The classic hand-made alias: `ip addr add 10.254.254.254/8 dev lo label lo:0` (what `ifconfig lo:0 10.254.254.254` does). */
export const ADDR_LO_SLASH8 =
  '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet","local":"10.254.254.254","prefixlen":8,"scope":"global","label":"lo:0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]';

/** `ip -j route show match 10.254.254.254` with `default via 192.0.2.1 dev d0` and `10.254.0.0/16 dev d0`. */
export const ROUTES_DEFAULT_AND_VPN =
  '[{"dst":"default","gateway":"192.0.2.1","dev":"d0","flags":[]},{"dst":"10.254.0.0/16","dev":"d0","scope":"link","flags":[]}]';

/** `ip -j route show match …` in a fresh namespace. */
export const ROUTES_NONE = '[]';

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope?: string;
  label?: string;
  valid_life_time?: number;
  preferred_life_time?: number;
}
interface Link {
  ifname: string;
  addr_info?: AddrInfo[];
  [key: string]: unknown;
}

/**
 * A FakeRunner that behaves like `ip` in a namespace: it keeps the addresses of every link
 * (starting from captured JSON) and applies `ip addr replace|del … dev lo` to them, answering
 * with the kernel's real error text. Any other command fails the test (FakeRunner's rule),
 * unless a test adds a handler for it.
 */
export class FakeIp {
  readonly runner = new FakeRunner();
  private links: Link[];

  constructor(
    addrJson = ADDR_FRESH_NS,
    private routesJson = ROUTES_NONE,
  ) {
    this.links = JSON.parse(addrJson) as Link[];
    this.runner
      .on(['ip', '-j', 'addr', 'show'], () => ok(JSON.stringify(this.links)))
      .onMatch(/^ip -j route show match \S+$/, () => ok(this.routesJson))
      .onMatch(/^ip addr replace \S+\/32 dev lo label \S+$/, (argv) => this.replace(argv))
      .onMatch(/^ip addr del \S+\/32 dev lo$/, (argv) => this.del(argv));
  }

  private lo(): Link {
    const lo = this.links.find((l) => l.ifname === 'lo');
    if (!lo) throw new Error('fixture has no lo');
    return lo;
  }

  private replace(argv: readonly string[]) {
    const [ip, prefix] = String(argv[3]).split('/');
    const label = String(argv[7]);
    const info = (this.lo().addr_info ??= []);
    const existing = info.find((a) => a.family === 'inet' && a.local === ip && a.prefixlen === Number(prefix));
    // Like the kernel, `replace` on an existing address keeps its label (measured with iproute2 6.1).
    if (!existing) {
      // The kernel lists IPv4 addresses before IPv6 ones, in the order they were added.
      const at = info.findIndex((a) => a.family === 'inet6');
      const entry = {
        family: 'inet',
        local: String(ip),
        prefixlen: Number(prefix),
        scope: 'global',
        label,
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      };
      info.splice(at < 0 ? info.length : at, 0, entry);
    }
    return ok();
  }

  private del(argv: readonly string[]) {
    const [ip, prefix] = String(argv[3]).split('/');
    const info = this.lo().addr_info ?? [];
    const i = info.findIndex((a) => a.family === 'inet' && a.local === ip && a.prefixlen === Number(prefix));
    if (i < 0) return fail('Error: ipv4: Address not found.', 2);
    info.splice(i, 1);
    return ok();
  }

  /** The IPv4 addresses on lo as `ip/prefix label`, for assertions. */
  loAddresses(): string[] {
    return (this.lo().addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen} ${a.label ?? ''}`.trim());
  }

  setRoutes(json: string): void {
    this.routesJson = json;
  }
}
