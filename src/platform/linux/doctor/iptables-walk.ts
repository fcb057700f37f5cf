/** Parses `iptables -S` (filter table) into chains the rule walker understands. Pure. */
import { inSubnet } from '../../../model/address.js';
import { shellQuote } from '../../../model/shell.js';
import { ifaceMatches, portMatches, type Chain, type MatchResult, type Packet, type Rule, type Target } from './rule-walk.js';

/** Splits an iptables-save style line into words, honouring double quotes. Pure. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return words;
}

function cidrMatch(spec: string, ip: string): boolean {
  const [addr, bits] = spec.split('/');
  return addr !== undefined && inSubnet(ip, addr, bits === undefined ? 32 : Number(bits));
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
        conds.push((p) => inv(v.split(',').some((c) => cidrMatch(c, p.dst)) ? 'yes' : 'no'));
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
        target = builtin ? ({ kind: builtin } as Target) : userChains.has(v) ? { kind: w === '-g' || w === '--goto' ? 'goto' : 'jump', chain: v } : { kind: 'other' };
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

/** All chains of `iptables -S` output. Pure. */
export function parseIptablesSave(text: string): Map<string, Chain> {
  const chains = new Map<string, Chain>();
  const get = (name: string) => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = { name, rules: [] }));
    return c;
  };
  const lines = text.split('\n').map((l) => l.trim());
  // A target that is a declared chain is a jump; any other (LOG, MARK, …) is an extension target.
  const userChains = new Set(lines.map((l) => /^-N (\S+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined));
  for (const line of lines) {
    const words = splitWords(line);
    if (words[0] === '-P' && words[1]) get(words[1]).policy = words[2] === 'DROP' ? 'drop' : 'accept';
    else if (words[0] === '-N' && words[1]) get(words[1]);
    else if (words[0] === '-A' && words[1]) {
      const { chain, rule } = parseIptablesRule(words, line, userChains);
      get(chain).rules.push(rule);
    }
  }
  return chains;
}
