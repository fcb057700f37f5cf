/** Turns `nft -j list ruleset` into chains the rule walker understands. Pure. */
import { inCidr } from '../../../model/address.js';
import { ifaceMatches, type Chain, type MatchResult, type Packet, type Target } from './rule-walk.js';

type Json = unknown;
interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  type?: string;
  policy?: string;
  prio?: number;
}
interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  expr?: Json[];
}

/** Tables iptables-nft owns (seen through `iptables -S` already) are skipped. */
const IPTABLES_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

export interface NftInputChains {
  /** Base chains hooked at input, each a separate gate a packet must pass. */
  bases: Array<{ label: string; chains: Map<string, Chain>; base: string }>;
  /** Native tables by `family name`, for presence checks (e.g. hostalias's own table). */
  tables: string[];
}

function text(v: Json): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'object') return typeof v === 'string' ? `"${v}"` : String(v);
  if (Array.isArray(v)) return v.map(text).join(',');
  const o = v as Record<string, Json>;
  if ('set' in o) return `{ ${(Array.isArray(o.set) ? o.set : [o.set]).map(text).join(', ')} }`;
  if ('meta' in o) return String((o.meta as { key?: string }).key);
  if ('payload' in o) {
    const p = o.payload as { protocol?: string; field?: string };
    return `${p.protocol} ${p.field}`;
  }
  if ('ct' in o) return `ct ${(o.ct as { key?: string }).key}`;
  if ('prefix' in o) {
    const p = o.prefix as { addr?: string; len?: number };
    return `${p.addr}/${p.len}`;
  }
  if ('range' in o) return (o.range as Json[]).map(text).join('-');
  return JSON.stringify(o);
}

function values(right: Json): Json[] {
  if (Array.isArray(right)) return right;
  if (right && typeof right === 'object' && 'set' in (right as object)) {
    const s = (right as { set: Json }).set;
    return Array.isArray(s) ? s : [s];
  }
  return [right];
}

function valueMatches(v: Json, test: (s: string | number) => boolean, range: (lo: number, hi: number) => boolean): boolean {
  if (typeof v === 'string' || typeof v === 'number') return test(v);
  if (v && typeof v === 'object') {
    const o = v as Record<string, Json>;
    if ('prefix' in o) {
      const p = o.prefix as { addr: string; len: number };
      return test(`${p.addr}/${p.len}`);
    }
    if ('range' in o) {
      const [lo, hi] = o.range as [number, number];
      return range(Number(lo), Number(hi));
    }
  }
  return false;
}

/** One `match` expression against a packet. Unknown ones are `maybe`. */
function matchExpr(m: { op?: string; left?: Json; right?: Json }, p: Packet): MatchResult {
  const op = m.op ?? '==';
  const left = m.left as Record<string, Json> | undefined;
  if (!left || !['==', '!=', 'in'].includes(op)) return 'maybe';
  const neg = op === '!=';
  const res = (b: boolean): MatchResult => (b !== neg ? 'yes' : 'no');
  const vals = values(m.right);
  const any = (test: (s: string | number) => boolean, range: (lo: number, hi: number) => boolean = () => false) =>
    vals.some((v) => valueMatches(v, test, range));
  if ('meta' in left) {
    const key = (left.meta as { key?: string }).key;
    if (key === 'iifname') return res(any((s) => ifaceMatches(String(s), p.iface)));
    if (key === 'l4proto' || key === 'protocol') return res(any((s) => s === p.proto || s === (p.proto === 'tcp' ? 6 : 17)));
    if (key === 'nfproto') return res(any((s) => s === 'ipv4'));
    return 'maybe';
  }
  if ('payload' in left) {
    const { protocol, field } = left.payload as { protocol?: string; field?: string };
    if (protocol === 'ip' && field === 'daddr') return res(any((s) => inCidr(p.dst, String(s))));
    if (protocol === 'ip6') return 'no';
    if ((protocol === 'tcp' || protocol === 'udp') && field === 'dport') {
      if (protocol !== p.proto) return neg ? 'maybe' : 'no';
      if (p.port === null) return 'ports';
      const port = p.port;
      return res(
        any(
          (s) => Number(s) === port,
          (lo, hi) => port >= lo && port <= hi,
        ),
      );
    }
    return 'maybe';
  }
  if ('ct' in left && (left.ct as { key?: string }).key === 'state') return res(any((s) => s === 'new'));
  if ('fib' in left) return 'maybe';
  return 'maybe';
}

function verdictOf(expr: Json[]): Target {
  for (const e of expr) {
    if (!e || typeof e !== 'object') continue;
    const o = e as Record<string, Json>;
    if ('accept' in o) return { kind: 'accept' };
    if ('drop' in o || 'reject' in o) return { kind: 'drop' };
    if ('return' in o) return { kind: 'return' };
    if ('jump' in o) return { kind: 'jump', chain: String((o.jump as { target?: string }).target) };
    if ('goto' in o) return { kind: 'goto', chain: String((o.goto as { target?: string }).target) };
  }
  return { kind: 'other' };
}

function renderRule(expr: Json[]): string {
  return expr
    .map((e) => {
      const o = (e ?? {}) as Record<string, Json>;
      if ('match' in o) {
        const m = o.match as { op?: string; left?: Json; right?: Json };
        return `${text(m.left)}${m.op && m.op !== '==' && m.op !== 'in' ? ` ${m.op}` : ''} ${text(m.right)}`;
      }
      const k = Object.keys(o)[0] ?? '';
      if (k === 'counter') return 'counter';
      if (k === 'jump' || k === 'goto') return `${k} ${String((o[k] as { target?: string }).target)}`;
      return k;
    })
    .join(' ');
}

/** Input-hook base chains of native nftables tables, minus iptables-nft's and `skipTables`. Pure. */
export function parseNftRuleset(jsonText: string, skipTables: ReadonlySet<string> = new Set()): NftInputChains {
  const items = (JSON.parse(jsonText || '{"nftables":[]}') as { nftables?: Array<Record<string, Json>> }).nftables ?? [];
  const byTable = new Map<string, Map<string, Chain>>();
  const baseNames: Array<{ key: string; chain: NftChain }> = [];
  const tables: string[] = [];
  const skip = (family: string, table: string) => ((family === 'ip' || family === 'ip6') && IPTABLES_TABLES.has(table)) || skipTables.has(table);
  for (const item of items) {
    if (item.table) {
      const t = item.table as { family: string; name: string };
      tables.push(`${t.family} ${t.name}`);
    } else if (item.chain) {
      const c = item.chain as NftChain;
      if (skip(c.family, c.table) || (c.family !== 'ip' && c.family !== 'inet')) continue;
      const key = `${c.family} ${c.table}`;
      if (!byTable.has(key)) byTable.set(key, new Map());
      byTable.get(key)?.set(c.name, { name: c.name, rules: [], ...(c.hook ? { policy: c.policy === 'drop' ? 'drop' : 'accept' } : {}) });
      if (c.hook === 'input' && (c.type ?? 'filter') === 'filter') baseNames.push({ key, chain: c });
    } else if (item.rule) {
      const r = item.rule as NftRule;
      const chain = byTable.get(`${r.family} ${r.table}`)?.get(r.chain);
      if (!chain) continue;
      const expr = r.expr ?? [];
      const matches = expr
        .filter((e) => e && typeof e === 'object' && 'match' in (e as object))
        .map((e) => (e as { match: { op?: string; left?: Json; right?: Json } }).match);
      const unknown = expr.some((e) => {
        const k = Object.keys((e ?? {}) as object)[0] ?? '';
        return !['match', 'counter', 'accept', 'drop', 'reject', 'return', 'jump', 'goto', 'log', 'comment'].includes(k);
      });
      chain.rules.push({
        text: `${r.family} ${r.table} ${r.chain}: ${renderRule(expr)} # handle ${r.handle}`,
        target: verdictOf(expr),
        deleteFix: `sudo nft delete rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`,
        match(p) {
          let result: MatchResult = unknown ? 'maybe' : 'yes';
          const rank: Record<MatchResult, number> = { yes: 3, ports: 2, maybe: 1, no: 0 };
          for (const m of matches) {
            const x = matchExpr(m, p);
            if (x === 'no') return 'no';
            if (rank[x] < rank[result]) result = x;
          }
          return result;
        },
      });
    }
  }
  return {
    tables,
    bases: baseNames.map(({ key, chain }) => ({ label: `${key} ${chain.name}`, chains: byTable.get(key) ?? new Map(), base: chain.name })),
  };
}
