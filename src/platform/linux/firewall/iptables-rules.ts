import type { Step } from '../../../model/steps.js';
import { managedHeader } from '../../../model/managed.js';
import type { SavedChain } from '../iptables-save.js';
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
  { table: 'raw', name: 'HOSTALIAS-MARTIAN', hook: 'PREROUTING' },
  { table: 'nat', name: 'HOSTALIAS-DNAT', hook: 'PREROUTING' },
  { table: 'nat', name: 'HOSTALIAS-LOCAL', hook: 'OUTPUT' },
  { table: 'nat', name: 'HOSTALIAS-SNAT', hook: 'INPUT' },
  { table: 'nat', name: 'HOSTALIAS-SNATLO', hook: 'POSTROUTING' },
  { table: 'filter', name: 'HOSTALIAS-LOCALNET', hook: 'INPUT' },
];

/**
 * The nftables table's semantics as iptables chains, as far as iptables can say them: it cannot
 * match an interface's kind, so container bridges are matched by the engines' names (`docker0`,
 * `br-+`, `cni-podman+`, `podman+`, and custom names the engines reported), after the LAN bridges
 * are turned away by name. Rules are written exactly as `iptables-save` prints them so observed
 * and wanted compare as text. Pure. Chains with no rules are not wanted.
 */
export function iptablesChains(s: FirewallSpec | null): IptChain[] {
  const rules: Record<string, string[]> = Object.fromEntries(IPT_CHAINS.map((c) => [c.name, []]));
  const add = (chain: string, ...r: string[]) => rules[chain]?.push(...r);
  if (s) {
    const d = `-d ${s.ip}/32`;
    const trusted = [...s.allowed, ...s.containerBridges.filter((b) => !s.allowed.includes(b))];
    const lan = s.lan.filter((b) => !s.allowed.includes(b));
    if (s.guard) {
      add('HOSTALIAS-GUARD', `${d} -i lo -j RETURN`, ...s.allowed.map((i) => `${d} -i ${i} -j RETURN`), ...lan.map((i) => `${d} -i ${i} -j DROP`));
      add('HOSTALIAS-GUARD', ...s.containerBridges.filter((b) => !s.allowed.includes(b)).map((i) => `${d} -i ${i} -j RETURN`), `${d} -j DROP`);
    }
    const port = (e: FirewallSpec['exposes'][number]) => `-p ${e.proto} -m ${e.proto} --dport ${e.port} -j DNAT --to-destination 127.0.0.1:${e.to}`;
    if (s.exposes.length > 0)
      add('HOSTALIAS-DNAT', ...s.allowed.flatMap((i) => s.exposes.map((e) => `${d} -i ${i} ${port(e)}`)), ...lan.map((i) => `${d} -i ${i} -j RETURN`));
    add('HOSTALIAS-DNAT', ...trusted.filter((i) => !s.allowed.includes(i)).flatMap((i) => s.exposes.map((e) => `${d} -i ${i} ${port(e)}`)));
    add('HOSTALIAS-LOCAL', ...s.exposes.map((e) => `${d} ${port(e)}`));
    for (const e of s.exposes.filter((x) => !x.keepSource)) {
      const snat = `-p ${e.proto} -m conntrack --ctstate DNAT --ctorigdst ${s.ip} --ctorigdstport ${e.port} -j SNAT --to-source 127.0.0.1`;
      add('HOSTALIAS-SNAT', `-d 127.0.0.1/32 ${snat}`);
      add('HOSTALIAS-SNATLO', `-d 127.0.0.1/32 -o lo ${snat}`);
    }
    if (s.exposes.length > 0) {
      add('HOSTALIAS-MARTIAN', '-s 127.0.0.0/8 ! -i lo -j DROP');
      add('HOSTALIAS-LOCALNET', '-d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate DNAT -j DROP');
    }
  }
  return IPT_CHAINS.map((c) => ({ ...c, rules: rules[c.name] ?? [] })).filter((c) => c.rules.length > 0);
}

/** Our chains and the jumps into them, out of parsed `iptables-save -t TABLE` output. Pure. */
export function ourChains(saved: readonly SavedChain[]): IptObserved {
  const obs: IptObserved = { chains: {}, jumps: [] };
  for (const c of saved) {
    if (c.name.startsWith('HOSTALIAS-')) (obs.chains[c.name] ??= []).push(...c.rules);
    for (const r of c.rules) {
      const jump = /^-j (HOSTALIAS-[A-Z]+)$/.exec(r);
      if (jump?.[1]) obs.jumps.push(`${c.name}>${jump[1]}`);
    }
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
      if (jumped)
        steps.push({
          kind: 'run',
          argv: ipt(meta.table, '-D', meta.hook, ...jump),
          undo: ipt(meta.table, '-I', meta.hook, '1', ...jump),
          why: `unhook ${meta.name} from ${meta.table} ${meta.hook}`,
        });
      if (have) {
        steps.push({ kind: 'run', argv: ipt(meta.table, '-F', meta.name), why: `flush ${meta.name}` });
        steps.push({ kind: 'run', argv: ipt(meta.table, '-X', meta.name), undo: ipt(meta.table, '-N', meta.name), why: `delete the chain ${meta.name}` });
      }
      continue;
    }
    if (!have)
      steps.push({
        kind: 'run',
        argv: ipt(meta.table, '-N', meta.name),
        undo: ipt(meta.table, '-X', meta.name),
        why: `create the chain ${meta.name} (${meta.table})`,
      });
    if (have && have.length > 0 && have.join('\n') !== want.rules.join('\n')) {
      steps.push({ kind: 'run', argv: ipt(meta.table, '-F', meta.name), why: `flush ${meta.name} to rewrite it` });
    }
    if (!have || have.join('\n') !== want.rules.join('\n')) {
      for (const r of want.rules) {
        const rule = r.split(' ');
        steps.push({
          kind: 'run',
          argv: ipt(meta.table, '-A', meta.name, ...rule),
          undo: ipt(meta.table, '-D', meta.name, ...rule),
          why: `${meta.name}: ${r}`,
        });
      }
    }
    if (!jumped)
      steps.push({
        kind: 'run',
        argv: ipt(meta.table, '-I', meta.hook, '1', ...jump),
        undo: ipt(meta.table, '-D', meta.hook, ...jump),
        why: `hook ${meta.name} into ${meta.table} ${meta.hook}`,
      });
  }
  return steps;
}

/** The chains as an `iptables-restore --noflush` file, loaded at boot (when none of them exist yet). Pure. */
export function renderIptablesRestore(s: FirewallSpec): string {
  const chains = iptablesChains(s);
  const out = [managedHeader('#', 'hostalias down'), '# Loaded at boot by hostalias-firewall.service.'];
  for (const table of ['raw', 'nat', 'filter'] as const) {
    const mine = chains.filter((c) => c.table === table);
    if (mine.length === 0) continue;
    out.push(`*${table}`, ...mine.map((c) => `:${c.name} - [0:0]`));
    for (const c of mine) out.push(`-I ${c.hook} 1 -j ${c.name}`, ...c.rules.map((r) => `-A ${c.name} ${r}`));
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}
