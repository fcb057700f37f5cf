import type { Runner } from '../../model/runner.js';
import { runChecked } from '../../exec/runner.js';

export interface LinkAddress {
  ifname: string;
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  label?: string;
}

export interface RouteEntry {
  dst: string;
  dev?: string;
  gateway?: string;
  type?: string;
}

interface IpAddrJson {
  ifname: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number; label?: string }>;
}

/** Every address on every interface of the current namespace (`ip -j addr show`). Read-only. */
export async function listAddresses(runner: Runner): Promise<LinkAddress[]> {
  const res = await runChecked(runner, ['ip', '-j', 'addr', 'show'], 'listing addresses');
  return parseIpAddrJson(res.stdout);
}

export function parseIpAddrJson(text: string): LinkAddress[] {
  const links = JSON.parse(text || '[]') as IpAddrJson[];
  return links.flatMap((link) =>
    (link.addr_info ?? [])
      .filter((a) => a.family === 'inet' || a.family === 'inet6')
      .map((a) => ({
        ifname: link.ifname,
        family: a.family as 'inet' | 'inet6',
        local: a.local,
        prefixlen: a.prefixlen,
        ...(a.label ? { label: a.label } : {}),
      })),
  );
}

/** The one reader of `ip -j route` output: its routes (nothing printed: none). Pure. */
export function parseIpRouteJson(text: string): RouteEntry[] {
  return JSON.parse(text || '[]') as RouteEntry[];
}

/** Routes of the main table that contain `ip` (`ip -j route show match IP`). Read-only. */
export async function routesMatching(runner: Runner, ip: string): Promise<RouteEntry[]> {
  const res = await runChecked(runner, ['ip', '-j', 'route', 'show', 'match', ip], `listing routes that contain ${ip}`);
  return parseIpRouteJson(res.stdout);
}

/** Every IPv4 route of the main table (`ip -j -4 route show table main`); none when `ip` fails (doctor reads what it can). Read-only. */
export async function mainRoutes(runner: Runner): Promise<RouteEntry[]> {
  const res = await runner.run(['ip', '-j', '-4', 'route', 'show', 'table', 'main']);
  return res.code === 0 ? parseIpRouteJson(res.stdout) : [];
}

export function describeRoute(r: RouteEntry): string {
  return [r.type && r.type !== 'unicast' ? r.type : '', r.dst, r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : ''].filter(Boolean).join(' ');
}
