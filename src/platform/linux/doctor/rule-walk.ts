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

/** How much work a walk did: chains walked and rules matched (tests bound them by the ruleset's size). */
export interface WalkStats {
  chains: number;
  rules: number;
}

/** Deeper jumps than this are not followed (nftables refuses more than 16 levels of jumps). */
const MAX_DEPTH = 16;

type Verdict = { verdict: 'accept' | 'drop'; rule: Rule | null } | { verdict: 'return' };

/**
 * Walks `chainName` for `p`: the first definite accept/drop wins; the policy decides at the end of
 * a base chain. Pure. Each chain is walked once per strength of the match that led into it
 * (yes, ports, maybe) and its verdict remembered, so a ruleset where many rules jump to the same
 * chains (10 rules jumping to a chain whose 10 rules jump to the next, six levels down) costs
 * time linear in its rules, not one walk per path. A chain reached again while it is being walked
 * (a loop, which the kernel refuses) or past MAX_DEPTH counts as a return. The partial drops
 * are those of every chain walked before the verdict, each listed once, in the order first met.
 */
export function walkChain(chains: ReadonlyMap<string, Chain>, chainName: string, p: Packet, stats?: WalkStats): WalkResult {
  const memo = new Map<string, Verdict>();
  const partial: PartialDrop[] = [];
  const listed = { ports: new Set<Rule>(), maybe: new Set<Rule>() };
  const note = (rule: Rule, how: PartialDrop['how']) => {
    if (listed[how].has(rule)) return;
    listed[how].add(rule);
    partial.push({ rule, how });
  };
  const walk = (name: string, depth: number, outer: MatchResult): Verdict => {
    const key = `${outer}\0${name}`;
    const known = memo.get(key);
    if (known) return known;
    const chain = chains.get(name);
    if (!chain || depth > MAX_DEPTH) return { verdict: 'return' };
    memo.set(key, { verdict: 'return' }); // while walking it: a loop back here returns
    if (stats) stats.chains++;
    const verdict = walkRules(chain, depth, outer);
    memo.set(key, verdict);
    return verdict;
  };
  const walkRules = (chain: Chain, depth: number, outer: MatchResult): Verdict => {
    for (const rule of chain.rules) {
      if (stats) stats.rules++;
      const m = weaker(rule.match(p), outer);
      if (m === 'no') continue;
      const t = rule.target;
      if (t.kind === 'accept') {
        if (m === 'yes') return { verdict: 'accept', rule };
      } else if (t.kind === 'drop') {
        if (m === 'yes') return { verdict: 'drop', rule };
        note(rule, m === 'ports' ? 'ports' : 'maybe');
      } else if (t.kind === 'return') {
        if (m === 'yes') return { verdict: 'return' };
      } else if (t.kind === 'jump' || t.kind === 'goto') {
        const sub = walk(t.chain, depth + 1, m);
        if (sub.verdict !== 'return' && m === 'yes') return sub;
        if (t.kind === 'goto' && m === 'yes') return { verdict: 'return' };
      }
    }
    if (chain.policy === 'drop') return { verdict: 'drop', rule: null };
    if (chain.policy === 'accept') return { verdict: 'accept', rule: null };
    return { verdict: 'return' };
  };
  const v = walk(chainName, 0, 'yes');
  return v.verdict === 'return' ? { verdict: 'return', partial } : { ...v, partial };
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
