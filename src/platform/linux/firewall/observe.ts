import type { Context } from '../../../model/context.js';
import { runChecked } from '../../../exec/runner.js';
import { UNITS } from './boot-units.js';
import { IPTABLES_FILE, ourChains, type IptObserved } from './iptables-rules.js';
import { parseIptablesSave } from '../iptables-save.js';
import { observeInit } from '../systemd.js';
import { NFT_FILE, NFT_TABLE } from './nft-ruleset.js';
import type { FirewallObserved } from './plan.js';
import { LOCALNET_SCOPE, parseRecord, RECORD_PATH, routeLocalnetKey } from './route-localnet.js';
import type { LinkFacts } from './spec.js';
import type { FirewallProbes } from './backend.js';

export async function probeFirewall(ctx: Context): Promise<FirewallProbes> {
  // An image's packet filter is the one installed in it; its version can't be asked without running it.
  if (!ctx.live) {
    const nft = await ctx.fs.exists(await firstExisting(ctx, NFT_PATHS));
    const ipt = await ctx.fs.exists(await firstExisting(ctx, IPTABLES_RESTORE_PATHS));
    return { nft, iptables: ipt ? 'image' : null };
  }
  const nft = await ctx.runner.run(['nft', '--version']);
  const ipt = await ctx.runner.run(['iptables', '--version']);
  return {
    nft: nft.code === 0,
    iptables: ipt.code === 0 ? (/\(([^)]+)\)/.exec(ipt.stdout)?.[1] ?? 'legacy') : null,
  };
}

interface LinkJson {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

/** `ip -j -d link show` output as LinkFacts. Pure. */
export function parseLinks(text: string): LinkFacts[] {
  return (JSON.parse(text || '[]') as LinkJson[]).map((l) => ({ name: l.ifname, kind: l.linkinfo?.info_kind ?? '', master: l.master ?? null }));
}

/** Every network interface here with its kind and bridge (`ip -j -d link show`). Read-only. */
export async function listLinks(ctx: Context): Promise<LinkFacts[]> {
  const res = await runChecked(ctx.runner, ['ip', '-j', '-d', 'link', 'show'], 'listing network interfaces');
  return parseLinks(res.stdout);
}

const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'];
const IPTABLES_RESTORE_PATHS = ['/usr/sbin/iptables-restore', '/sbin/iptables-restore', '/usr/bin/iptables-restore'];

async function firstExisting(ctx: Context, candidates: readonly string[]): Promise<string> {
  for (const p of candidates) if (await ctx.fs.exists(p)) return p;
  return candidates[0] as string;
}

async function observeIptables(ctx: Context, probes: FirewallProbes): Promise<IptObserved | null> {
  if (!probes.iptables || !ctx.live) return null;
  let text = '';
  for (const table of ['raw', 'nat', 'filter']) {
    const res = await ctx.runner.run(['iptables-save', '-t', table]);
    if (res.code === 0) text += res.stdout;
  }
  return ourChains(parseIptablesSave(text));
}

/**
 * Reads what the firewall planner needs: the live table / chains, route_localnet of the
 * interfaces in play, the record and the owned files. Read-only; no root needed except that
 * `nft list` and `iptables-save` report nothing without it.
 */
export async function observeFirewall(ctx: Context, probes: FirewallProbes, ifaces: readonly LinkFacts[]): Promise<FirewallObserved> {
  const files: Record<string, string | null> = {};
  for (const p of [NFT_FILE, IPTABLES_FILE, UNITS.firewall, UNITS.bridges, RECORD_PATH]) files[p] = await ctx.fs.read(p);
  const record = parseRecord(files[RECORD_PATH] ?? null, ctx.fs.resolve(RECORD_PATH));
  const links: Record<string, string | null> = {};
  for (const p of [UNITS.firewallWants, UNITS.bridgesWants]) links[p] = await ctx.fs.readLink(p);
  // An image (--root) has no running kernel whose route_localnet could be read.
  const existing = new Set(ctx.live ? [LOCALNET_SCOPE, ...ifaces.map((l) => l.name)] : []);
  const routeLocalnet: Record<string, number> = {};
  for (const iface of new Set([LOCALNET_SCOPE, ...Object.keys(record?.routeLocalnet ?? {})])) {
    if (!existing.has(iface)) continue;
    const res = await runChecked(ctx.runner, ['sysctl', '-n', routeLocalnetKey(iface)], `reading route_localnet of ${iface}`);
    routeLocalnet[iface] = Number(res.stdout.trim());
  }
  const listing = probes.nft && ctx.live ? await ctx.runner.run(['nft', 'list', 'table', ...NFT_TABLE]) : null;
  const init = await observeInit(ctx);
  return {
    nftListing: listing && listing.code === 0 ? listing.stdout : null,
    iptables: await observeIptables(ctx, probes),
    routeLocalnet,
    record,
    files,
    links,
    paths: {
      nft: await firstExisting(ctx, NFT_PATHS),
      iptablesRestore: await firstExisting(ctx, IPTABLES_RESTORE_PATHS),
      sysctl: await firstExisting(ctx, ['/usr/sbin/sysctl', '/sbin/sysctl', '/usr/bin/sysctl']),
    },
    systemdInstalled: init.systemdInstalled,
    systemdRunning: init.systemdRunning,
    rootPrefix: ctx.fs.isRooted ? ctx.fs.root : '',
    nftFile: await ctx.fs.real(NFT_FILE),
  };
}
