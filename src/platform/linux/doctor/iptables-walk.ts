/** Turns `iptables -S` chains (parsed by ../iptables-save.ts) into rules the walker understands. Pure. */
import { inCidr } from '../../../model/address.js';
import { shellQuote } from '../../../model/shell.js';
import type { SavedChain } from '../iptables-save.js';
import { ifaceMatches, portMatches, type Chain, type MatchResult, type Packet, type Rule, type Target } from './rule-walk.js';

/** Splits an iptables-save style line into words, honouring double quotes. Pure. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return words;
}

const BUILTIN_TARGETS: Record<string, Target['kind']> = { ACCEPT: 'accept', DROP: 'drop', REJECT: 'drop', RETURN: 'return' };

/** One `-A CHAIN …` line → a Rule. Pure. */
export function parseIptablesRule(words: string[], line: string, userChains: ReadonlySet<string>, table = 'filter'): { chain: string; rule: Rule } {
  const chain = words[1] ?? '';
  const conds: Array<(p: Packet) => MatchResult> = [];
  let target: Target = { kind: 'other' };
  let proto: string | null = null;
  for (let i = 2; i < words.length; i++) {
    let neg = false;
    let w = words[i] as string;
    if (w === '!') {
      neg = true;
      w = words[++i] ?? '';
    }
    const v = words[i + 1] ?? '';
    const inv = (r: MatchResult): MatchResult => (neg ? (r === 'yes' ? 'no' : r === 'no' ? 'yes' : 'maybe') : r);
    switch (w) {
      case '-i':
      case '--in-interface':
        conds.push((p) => inv(ifaceMatches(v, p.iface) ? 'yes' : 'no'));
        i++;
        break;
      case '-d':
      case '--destination':
        conds.push((p) => inv(v.split(',').some((c) => inCidr(p.dst, c)) ? 'yes' : 'no'));
        i++;
        break;
      case '-p':
      case '--protocol':
        proto = v;
        conds.push((p) => inv(v === 'all' || v === p.proto || v === String(p.proto === 'tcp' ? 6 : 17) ? 'yes' : 'no'));
        i++;
        break;
      case '--dport':
      case '--destination-port':
      case '--dports':
      case '--destination-ports':
        conds.push((p) => (p.port === null ? 'ports' : inv(portMatches(v, p.port) ? 'yes' : 'no')));
        i++;
        break;
      case '-m':
      case '--match':
        i++; // loading a match module says nothing by itself
        break;
      case '--comment':
        i++;
        break;
      case '--ctstate':
      case '--state': {
        // A container's first packet is NEW.
        const has = v.split(',').includes('NEW');
        conds.push(() => inv(has ? 'yes' : 'no'));
        i++;
        break;
      }
      case '--dst-type': {
        conds.push(() => inv(v === 'LOCAL' ? 'yes' : 'no'));
        i++;
        break;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        const builtin = BUILTIN_TARGETS[v];
        target = builtin
          ? ({ kind: builtin } as Target)
          : userChains.has(v)
            ? { kind: w === '-g' || w === '--goto' ? 'goto' : 'jump', chain: v }
            : { kind: 'other' };
        i++;
        // The target's own options (--reject-with …, --log-prefix …) follow; skip them.
        while (i + 1 < words.length && (words[i + 1] as string).startsWith('--')) i += 2;
        break;
      }
      default:
        // Anything else (-s, --sport, -m limit, …) is a condition doctor can't evaluate.
        if (w.startsWith('-')) {
          conds.push(() => 'maybe');
          if (i + 1 < words.length && !(words[i + 1] as string).startsWith('-')) i++;
        }
    }
  }
  void proto;
  const rule: Rule = {
    text: line,
    target,
    deleteFix: `sudo ${shellQuote(['iptables', ...(table === 'filter' ? [] : ['-t', table]), '-D', ...words.slice(1)])}`,
    match(p) {
      let result: MatchResult = 'yes';
      const rank: Record<MatchResult, number> = { yes: 3, ports: 2, maybe: 1, no: 0 };
      for (const c of conds) {
        const r = c(p);
        if (r === 'no') return 'no';
        if (rank[r] < rank[result]) result = r;
      }
      return result;
    },
  };
  return { chain, rule };
}

/** The chains of one table (parsed `iptables -S` output) as the rule walker reads them. Pure. */
export function walkableChains(saved: readonly SavedChain[]): Map<string, Chain> {
  // A target that is a declared chain is a jump; any other (LOG, MARK, …) is an extension target.
  const userChains = new Set(saved.filter((c) => c.policy === null).map((c) => c.name));
  const chains = new Map<string, Chain>();
  for (const c of saved) {
    const chain: Chain = { name: c.name, rules: [] };
    if (c.policy !== null) chain.policy = c.policy === 'DROP' ? 'drop' : 'accept';
    for (const text of c.rules) {
      const line = `-A ${c.name} ${text}`;
      chain.rules.push(parseIptablesRule(splitWords(line), line, userChains, c.table).rule);
    }
    chains.set(c.name, chain);
  }
  return chains;
}
