/**
 * A small evaluator for "would this firewall chain drop a new connection from a container bridge to
 * the alias?". Pure. Rules come from iptables (-S) or nftables (JSON), turned into `Rule`s. It only
 * trusts conditions it understands: an accept with an unknown condition is not counted as an accept,
 * a drop with one is reported as a possible drop.
 */
export interface Packet {
  iface: string;
  dst: string;
  proto: 'tcp' | 'udp';
  /** null: "any port" — a rule limited to some ports then matches only partly. */
  port: number | null;
}

/** yes: matches; no: doesn't; ports: matches only some ports (packet.port null); maybe: can't tell. */
export type MatchResult = 'yes' | 'no' | 'ports' | 'maybe';

export type Target = { kind: 'accept' | 'drop' | 'return' | 'other' } | { kind: 'jump' | 'goto'; chain: string };

export interface Rule {
  /** How the user would recognise it: the iptables -S line or the nft rule text. */
  text: string;
  match(p: Packet): MatchResult;
  target: Target;
  /** The exact command that deletes this rule. */
  deleteFix: string;
}

export interface Chain {
  name: string;
  rules: Rule[];
  /** Base chains only: what happens at the end. */
  policy?: 'accept' | 'drop';
}

export interface PartialDrop {
  rule: Rule;
  how: 'ports' | 'maybe';
}

export type WalkResult =
  | { verdict: 'accept'; rule: Rule | null; partial: PartialDrop[] }
  | { verdict: 'drop'; rule: Rule | null; partial: PartialDrop[] }
  | { verdict: 'return'; partial: PartialDrop[] };

function weaker(a: MatchResult, b: MatchResult): MatchResult {
  const rank: Record<MatchResult, number> = { yes: 3, ports: 2, maybe: 1, no: 0 };
  return rank[a] <= rank[b] ? a : b;
}

/** Walks `chainName` for `p`: the first definite accept/drop wins; the policy decides at the end of a base chain. */
export function walkChain(chains: ReadonlyMap<string, Chain>, chainName: string, p: Packet, depth = 0, outer: MatchResult = 'yes'): WalkResult {
  const chain = chains.get(chainName);
  const partial: PartialDrop[] = [];
  if (!chain || depth > 16) return { verdict: 'return', partial };
  for (const rule of chain.rules) {
    const m = weaker(rule.match(p), outer);
    if (m === 'no') continue;
    const t = rule.target;
    if (t.kind === 'accept') {
      if (m === 'yes') return { verdict: 'accept', rule, partial };
    } else if (t.kind === 'drop') {
      if (m === 'yes') return { verdict: 'drop', rule, partial };
      partial.push({ rule, how: m === 'ports' ? 'ports' : 'maybe' });
    } else if (t.kind === 'return') {
      if (m === 'yes') return { verdict: 'return', partial };
    } else if (t.kind === 'jump' || t.kind === 'goto') {
      const sub = walkChain(chains, t.chain, p, depth + 1, m);
      partial.push(...sub.partial);
      if (sub.verdict !== 'return' && m === 'yes') return { ...sub, partial };
      if (t.kind === 'goto' && m === 'yes') return { verdict: 'return', partial };
    }
  }
  if (chain.policy === 'drop') return { verdict: 'drop', rule: null, partial };
  if (chain.policy === 'accept') return { verdict: 'accept', rule: null, partial };
  return { verdict: 'return', partial };
}

/** `docker0` matches `docker0`, `docker+` (iptables) and `docker*` (nft). Pure. */
export function ifaceMatches(pattern: string, iface: string): boolean {
  if (pattern.endsWith('+') || pattern.endsWith('*')) return iface.startsWith(pattern.slice(0, -1));
  return pattern === iface;
}

/** Does a port spec (`80`, `8000:8100`, `80,443`, `8000-8100`) cover `port`? Pure. */
export function portMatches(spec: string, port: number): boolean {
  return spec.split(',').some((part) => {
    const [lo, hi] = part.split(/[:-]/).map(Number);
    if (lo === undefined || Number.isNaN(lo)) return false;
    return hi === undefined || Number.isNaN(hi) ? port === lo : port >= lo && port <= hi;
  });
}
