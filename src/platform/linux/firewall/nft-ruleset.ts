import { managedHeader } from '../../../model/managed.js';
import { createHash } from 'node:crypto';
import type { ExposeSpec } from '../../../model/config.js';
import { hasKernelRules, type FirewallSpec } from './spec.js';

/** The set of TCP ports whose services listen on ::1 only, filled by the loopback relay's watcher (hostalias serve). */
export const RELAY_SET = 'relay_tcp';
/** The set of (protocol, port) something listens on at the alias itself: `expose --all` leaves them alone. */
export const DIRECT_SET = 'direct';

export const NFT_TABLE = ['inet', 'hostalias'] as const;
export const NFT_FILE = '/etc/hostalias/firewall.nft';

const q = (s: string) => `"${s}"`;

function snatRule(ip: string, e: ExposeSpec): string {
  // Only connections this table DNATed from ALIAS:PORT; the original tuple names them exactly.
  return `ct status dnat ct original ip daddr ${ip} meta l4proto ${e.proto} ct original proto-dst ${e.port} snat ip to 127.0.0.1`;
}

function keepRule(ip: string, e: ExposeSpec): string {
  return `ct status dnat ct original ip daddr ${ip} meta l4proto ${e.proto} ct original proto-dst ${e.port} return`;
}

const setDecl = (name: string, items: readonly string[]) =>
  `\tset ${name} { type ifname;${items.length > 0 ? ` elements = { ${items.map(q).join(', ')} };` : ''} }`;

function body(s: FirewallSpec): string[] {
  const a = `ip daddr ${s.ip}`;
  const lines: string[] = [];
  lines.push('\t# --allow-iface: trusted whatever their kind');
  lines.push(setDecl('allowed', s.allowed));
  lines.push('\t# bridges that existed when planned and are not container networks: never trusted');
  lines.push(setDecl('lan', s.lan));
  // Who may use the alias: lo (the host, rootless engines' slirp4netns/pasta/RootlessKit), the
  // allowed interfaces, and any bridge the kernel knows except the LAN ones, so a container
  // network created later is trusted from its first packet.
  if (s.guard) {
    // Weak host model: Linux answers for the alias on any interface. Drop before conntrack
    // (raw priority) unless the packet came in on a trusted interface; match the interface,
    // not the source address, which a LAN host can spoof.
    lines.push('', '\tchain guard {', '\t\ttype filter hook prerouting priority raw; policy accept;');
    lines.push(`\t\t${a} iifname "lo" accept`);
    lines.push(`\t\t${a} iifname @allowed accept`);
    lines.push(`\t\t${a} iifname @lan drop`);
    lines.push(`\t\t${a} meta iifkind "bridge" accept`);
    lines.push(`\t\t${a} drop`);
    lines.push('\t}');
  }
  if (hasKernelRules(s)) {
    if (s.all) {
      lines.push('', '\t# expose --all: kept current by hostalias serve (services on ::1 only; sockets on the alias itself)');
      lines.push(`\tset ${RELAY_SET} { type inet_service; }`);
      lines.push(`\tset ${DIRECT_SET} { type inet_proto . inet_service; }`);
    }
    lines.push('', '\tchain ports {');
    for (const e of s.exposes) lines.push(`\t\t${a} ${e.proto} dport ${e.port} dnat ip to 127.0.0.1:${e.to}`);
    if (s.all) {
      // One rule for every port: the destination port is kept. Ports exposed one by one matched above.
      lines.push(`\t\t${a} meta l4proto . th dport @${DIRECT_SET} return`);
      lines.push(`\t\t${a} tcp dport @${RELAY_SET} dnat ip to 127.0.0.1:${s.all.relayPort}`);
      lines.push(`\t\t${a} meta l4proto { tcp, udp } th dport != { ${s.all.keptOut.join(', ')} } dnat ip to 127.0.0.1`);
    }
    lines.push('\t}');
    lines.push('', '\tchain expose {', '\t\ttype nat hook prerouting priority dstnat; policy accept;');
    lines.push(`\t\t${a} iifname @allowed goto ports`);
    lines.push(`\t\t${a} iifname @lan return`);
    lines.push(`\t\t${a} meta iifkind "bridge" goto ports`);
    lines.push('\t}');
    // Processes on the host, and rootless engines whose containers connect from the host's own
    // stack, never pass prerouting on their way out: DNAT them at the output hook.
    lines.push('', '\tchain local {', '\t\ttype nat hook output priority -100; policy accept;');
    lines.push(`\t\t${a} goto ports`);
    lines.push('\t}');
    const snat = s.exposes.filter((e) => !e.keepSource);
    if (snat.length > 0 || s.all) {
      // The service then sees 127.0.0.1, as from a local client (pg_hba.conf trusts it).
      // Packets from a bridge are delivered locally and never reach postrouting: their source is
      // rewritten at the nat input hook. Connections from the host itself get theirs at
      // postrouting on lo (their source mapping is settled before they come back in on lo).
      lines.push('', '\tchain sources {');
      if (s.all) {
        // Every connection DNATed from the alias, but those exposed with --keep-source.
        for (const e of s.exposes.filter((x) => x.keepSource)) lines.push(`\t\t${keepRule(s.ip, e)}`);
        lines.push(`\t\tct status dnat ct original ip daddr ${s.ip} snat ip to 127.0.0.1`);
      } else for (const e of snat) lines.push(`\t\t${snatRule(s.ip, e)}`);
      lines.push('\t}');
      lines.push('', '\tchain source {', '\t\ttype nat hook input priority 100; policy accept;', '\t\tjump sources', '\t}');
      lines.push('', '\tchain source-local {', '\t\ttype nat hook postrouting priority srcnat; policy accept;', '\t\toifname "lo" jump sources', '\t}');
    }
    // route_localnet=1 (on `all`, see route-localnet.ts) lets 127.0.0.0/8 in from every
    // interface. CVE-2020-8558 hardening, as kube-proxy: a packet for 127/8 that did not come in
    // on lo is accepted only if this table DNATed it; a packet *from* 127/8 that did not come in
    // on lo (spoofed: the kernel calls it a martian without route_localnet) is dropped before
    // conntrack, whether it is for this host or to be forwarded.
    lines.push('', '\tchain martian {', '\t\ttype filter hook prerouting priority raw; policy accept;');
    lines.push('\t\tiifname != "lo" ip saddr 127.0.0.0/8 drop');
    lines.push('\t}');
    lines.push('', '\tchain localnet {', '\t\ttype filter hook input priority filter; policy accept;');
    lines.push('\t\tiifname != "lo" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop');
    lines.push('\t}');
  }
  return lines;
}

/** A fingerprint of the rules, stored as the table's comment to tell whether the live table is current. */
export function rulesetDigest(s: FirewallSpec): string {
  return createHash('sha256').update(body(s).join('\n')).digest('hex').slice(0, 16);
}

/**
 * The whole table as an `nft -f` file. Loading it is atomic and idempotent: the first two lines
 * make sure the table exists and then delete it, in the same transaction that recreates it.
 * Pure.
 */
export function renderNftRuleset(s: FirewallSpec): string {
  const [family, name] = NFT_TABLE;
  return [
    '#!/usr/sbin/nft -f',
    managedHeader('#', 'hostalias down'),
    `table ${family} ${name}`,
    `delete table ${family} ${name}`,
    `table ${family} ${name} {`,
    `\tcomment "hostalias:${rulesetDigest(s)}"`,
    ...body(s),
    '}',
    '',
  ].join('\n');
}

/** The digest in `nft list table` output, or null when the table is missing or not ours. Pure. */
export function liveDigest(listing: string | null): string | null {
  if (listing === null) return null;
  return /comment "hostalias:([0-9a-f]+)"/.exec(listing)?.[1] ?? '';
}

/** Rules per chain, in our file or in `nft list table` output (both print one rule a line). Pure. */
export function countChainRules(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  let chain: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const open = /^chain (\S+) \{$/.exec(line);
    if (open) chain = open[1] as string;
    else if (line === '}') chain = null;
    else if (chain && line !== '' && !/^(type |comment |#)/.test(line)) counts[chain] = (counts[chain] ?? 0) + 1;
  }
  return counts;
}

/**
 * The live table is the one `s` describes: same digest in its comment, and no rule deleted or
 * added by hand since (the comment alone survives `nft delete rule`). Pure.
 */
export function liveTableCurrent(listing: string | null, s: FirewallSpec): boolean {
  if (listing === null || liveDigest(listing) !== rulesetDigest(s)) return false;
  return JSON.stringify(countChainRules(listing)) === JSON.stringify(countChainRules(body(s).join('\n')));
}

export function nftLoadArgv(path: string): string[] {
  return ['nft', '-f', path];
}

export function nftDeleteArgv(): string[] {
  return ['nft', 'delete', 'table', ...NFT_TABLE];
}

/**
 * The `nft -f -` input that makes the relay set hold exactly `ports` (one transaction: flushed and
 * refilled atomically, so no port is missing in between). Pure.
 */
export function relaySetUpdate(ports: readonly number[], direct: ReadonlyArray<{ proto: 'tcp' | 'udp'; port: number }>): string {
  const [family, name] = NFT_TABLE;
  const lines = [`flush set ${family} ${name} ${RELAY_SET}`, `flush set ${family} ${name} ${DIRECT_SET}`];
  if (ports.length > 0) lines.push(`add element ${family} ${name} ${RELAY_SET} { ${ports.join(', ')} }`);
  if (direct.length > 0) lines.push(`add element ${family} ${name} ${DIRECT_SET} { ${direct.map((d) => `${d.proto} . ${d.port}`).join(', ')} }`);
  return `${lines.join('\n')}\n`;
}
