import { currentRuntime } from '../../../exec/runtime.js';
import type { Context } from '../../../model/context.js';
import { runChecked } from '../../../exec/runner.js';
import { UNITS } from './boot-units.js';
import { IPTABLES_FILE, parseIptablesSave, type IptObserved } from './iptables-rules.js';
import { NFT_FILE, NFT_TABLE } from './nft-ruleset.js';
import type { FirewallObserved } from './plan.js';
import { parseRecord, RECORD_PATH, routeLocalnetKey } from './route-localnet.js';
import type { FirewallProbes } from './backend.js';

export async function probeFirewall(ctx: Context): Promise<FirewallProbes> {
  const nft = await ctx.runner.run(['nft', '--version']);
  const ipt = await ctx.runner.run(['iptables', '--version']);
  return {
    nft: nft.code === 0,
    iptables: ipt.code === 0 ? (/\(([^)]+)\)/.exec(ipt.stdout)?.[1] ?? 'legacy') : null,
  };
}

/** Names of every network interface here (`ip -j link show`). Read-only. */
export async function listLinks(ctx: Context): Promise<string[]> {
  const res = await runChecked(ctx.runner, ['ip', '-j', 'link', 'show'], 'listing network interfaces');
  return (JSON.parse(res.stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname);
}

async function firstExisting(ctx: Context, candidates: readonly string[]): Promise<string> {
  for (const p of candidates) if (await ctx.fs.exists(p)) return p;
  return candidates[0] as string;
}

async function observeIptables(ctx: Context, probes: FirewallProbes): Promise<IptObserved | null> {
  if (!probes.iptables) return null;
  let text = '';
  for (const table of ['raw', 'nat', 'filter']) {
    const res = await ctx.runner.run(['iptables-save', '-t', table]);
    if (res.code === 0) text += res.stdout;
  }
  return parseIptablesSave(text);
}

/**
 * Reads what the firewall planner needs: the live table / chains, route_localnet of the
 * interfaces in play, the record and the owned files. Read-only; no root needed except that
 * `nft list` and `iptables-save` report nothing without it.
 */
export async function observeFirewall(ctx: Context, probes: FirewallProbes, interfaces: readonly string[]): Promise<FirewallObserved> {
  const files: Record<string, string | null> = {};
  for (const p of [NFT_FILE, IPTABLES_FILE, UNITS.firewall, UNITS.bridges, RECORD_PATH]) files[p] = await ctx.fs.read(p);
  const record = parseRecord(files[RECORD_PATH] ?? null, ctx.fs.resolve(RECORD_PATH));
  const links: Record<string, string | null> = {};
  for (const p of [UNITS.firewallWants, UNITS.bridgesWants]) links[p] = await ctx.fs.readLink(p);
  const existing = new Set(await listLinks(ctx));
  const routeLocalnet: Record<string, number> = {};
  for (const iface of new Set([...interfaces, ...Object.keys(record?.routeLocalnet ?? {})])) {
    if (!existing.has(iface)) continue;
    const res = await runChecked(ctx.runner, ['sysctl', '-n', routeLocalnetKey(iface)], `reading route_localnet of ${iface}`);
    routeLocalnet[iface] = Number(res.stdout.trim());
  }
  const listing = probes.nft ? await ctx.runner.run(['nft', 'list', 'table', ...NFT_TABLE]) : null;
  const runtime = currentRuntime();
  return {
    nftListing: listing && listing.code === 0 ? listing.stdout : null,
    iptables: await observeIptables(ctx, probes),
    routeLocalnet,
    record,
    files,
    links,
    paths: {
      nft: await firstExisting(ctx, ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft']),
      iptablesRestore: await firstExisting(ctx, ['/usr/sbin/iptables-restore', '/sbin/iptables-restore', '/usr/bin/iptables-restore']),
      node: runtime.nodePath,
      cli: runtime.cliPath,
    },
    systemdInstalled: (await ctx.fs.exists('/lib/systemd/systemd')) || (await ctx.fs.exists('/usr/lib/systemd/systemd')),
    systemdRunning: !ctx.fs.isRooted && (await ctx.fs.exists('/run/systemd/system')),
    rootPrefix: ctx.fs.isRooted ? ctx.fs.root : '',
  };
}
