import type { Step } from '../../../model/steps.js';
import type { FirewallSpec } from './spec.js';

export const IPTABLES_FILE = '/etc/hostalias/firewall.iptables';

export type IptTable = 'raw' | 'nat' | 'filter';

/** One chain of ours, its rules in `iptables-save` canonical form (without `-A CHAIN`), and where it hooks in. */
export interface IptChain {
  table: IptTable;
  name: string;
  /** The built-in chain that jumps to it (first rule). */
  hook: string;
  rules: string[];
}

/** Our chains as `iptables-save -t TABLE` shows them: rules by chain, and jumps `HOOK>CHAIN`. */
export interface IptObserved {
  chains: Record<string, string[]>;
  jumps: string[];
}

export const IPT_CHAINS: ReadonlyArray<Pick<IptChain, 'table' | 'name' | 'hook'>> = [
  { table: 'raw', name: 'HOSTALIAS-GUARD', hook: 'PREROUTING' },
  { table: 'nat', name: 'HOSTALIAS-DNAT', hook: 'PREROUTING' },
  { table: 'nat', name: 'HOSTALIAS-SNAT', hook: 'INPUT' },
  { table: 'filter', name: 'HOSTALIAS-LOCALNET', hook: 'INPUT' },
];

/**
 * The same semantics as the nftables table, as iptables chains (no sets: one rule per trusted
 * interface). Rules are written exactly as `iptables-save` prints them so observed and wanted
 * compare as text. Pure. Chains with no rules are not wanted.
 */
export function iptablesChains(s: FirewallSpec | null): IptChain[] {
  const rules: Record<string, string[]> = { 'HOSTALIAS-GUARD': [], 'HOSTALIAS-DNAT': [], 'HOSTALIAS-SNAT': [], 'HOSTALIAS-LOCALNET': [] };
  if (s) {
    const d = `-d ${s.ip}/32`;
    if (s.guard) {
      rules['HOSTALIAS-GUARD'] = [`${d} -i lo -j RETURN`, ...s.trusted.map((i) => `${d} -i ${i} -j RETURN`), `${d} -j DROP`];
    }
    for (const e of s.exposes) {
      for (const i of s.trusted) rules['HOSTALIAS-DNAT']?.push(`${d} -i ${i} -p ${e.proto} -m ${e.proto} --dport ${e.port} -j DNAT --to-destination 127.0.0.1:${e.to}`);
      if (!e.keepSource) {
        rules['HOSTALIAS-SNAT']?.push(`-d 127.0.0.1/32 -p ${e.proto} -m conntrack --ctstate DNAT --ctorigdst ${s.ip} --ctorigdstport ${e.port} -j SNAT --to-source 127.0.0.1`);
      }
    }
    if (s.exposes.length > 0) rules['HOSTALIAS-LOCALNET'] = ['-d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate DNAT -j DROP'];
  }
  return IPT_CHAINS.map((c) => ({ ...c, rules: rules[c.name] ?? [] })).filter((c) => c.rules.length > 0);
}

/** Reads our chains out of `iptables-save -t TABLE` output. Pure. */
export function parseIptablesSave(text: string): IptObserved {
  const obs: IptObserved = { chains: {}, jumps: [] };
  for (const line of text.split('\n')) {
    const decl = /^:(HOSTALIAS-[A-Z]+) /.exec(line);
    if (decl?.[1]) obs.chains[decl[1]] ??= [];
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule?.[1] || rule[2] === undefined) continue;
    if (rule[1].startsWith('HOSTALIAS-')) (obs.chains[rule[1]] ??= []).push(rule[2]);
    const jump = /^-j (HOSTALIAS-[A-Z]+)$/.exec(rule[2]);
    if (jump?.[1]) obs.jumps.push(`${rule[1]}>${jump[1]}`);
  }
  return obs;
}

const ipt = (table: IptTable, ...args: string[]) => ['iptables', '-w', '-t', table, ...args];

/**
 * Converges our iptables chains (`observed` per table merged) to `s`; null removes them.
 * Pure; idempotent. A changed chain is flushed and refilled (rollback re-creates only what this
 * run added, so a failed *update* leaves the chain empty: `hostalias up` fills it again).
 */
export function planIptables(s: FirewallSpec | null, observed: IptObserved): Step[] {
  const steps: Step[] = [];
  const wanted = new Map(iptablesChains(s).map((c) => [c.name, c]));
  for (const meta of IPT_CHAINS) {
    const want = wanted.get(meta.name);
    const have = observed.chains[meta.name];
    const jumped = observed.jumps.includes(`${meta.hook}>${meta.name}`);
    const jump = ['-j', meta.name];
    if (!want) {
      if (jumped) steps.push({ kind: 'run', argv: ipt(meta.table, '-D', meta.hook, ...jump), undo: ipt(meta.table, '-I', meta.hook, '1', ...jump), why: `unhook ${meta.name} from ${meta.table} ${meta.hook}` });
      if (have) {
        steps.push({ kind: 'run', argv: ipt(meta.table, '-F', meta.name), why: `flush ${meta.name}` });
        steps.push({ kind: 'run', argv: ipt(meta.table, '-X', meta.name), undo: ipt(meta.table, '-N', meta.name), why: `delete the chain ${meta.name}` });
      }
      continue;
    }
    if (!have) steps.push({ kind: 'run', argv: ipt(meta.table, '-N', meta.name), undo: ipt(meta.table, '-X', meta.name), why: `create the chain ${meta.name} (${meta.table})` });
    if (have && have.length > 0 && have.join('\n') !== want.rules.join('\n')) {
      steps.push({ kind: 'run', argv: ipt(meta.table, '-F', meta.name), why: `flush ${meta.name} to rewrite it` });
    }
    if (!have || have.join('\n') !== want.rules.join('\n')) {
      for (const r of want.rules) {
        const rule = r.split(' ');
        steps.push({ kind: 'run', argv: ipt(meta.table, '-A', meta.name, ...rule), undo: ipt(meta.table, '-D', meta.name, ...rule), why: `${meta.name}: ${r}` });
      }
    }
    if (!jumped) steps.push({ kind: 'run', argv: ipt(meta.table, '-I', meta.hook, '1', ...jump), undo: ipt(meta.table, '-D', meta.hook, ...jump), why: `hook ${meta.name} into ${meta.table} ${meta.hook}` });
  }
  return steps;
}

/** The chains as an `iptables-restore --noflush` file, loaded at boot (when none of them exist yet). Pure. */
export function renderIptablesRestore(s: FirewallSpec): string {
  const chains = iptablesChains(s);
  const out = ['# Managed by hostalias: `hostalias down` removes this. Loaded at boot by hostalias-firewall.service.'];
  for (const table of ['raw', 'nat', 'filter'] as const) {
    const mine = chains.filter((c) => c.table === table);
    if (mine.length === 0) continue;
    out.push(`*${table}`, ...mine.map((c) => `:${c.name} - [0:0]`));
    for (const c of mine) out.push(`-I ${c.hook} 1 -j ${c.name}`, ...c.rules.map((r) => `-A ${c.name} ${r}`));
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}
