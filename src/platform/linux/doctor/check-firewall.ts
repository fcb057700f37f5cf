import { INSTALL_PACKET_FILTER } from '../firewall/part.js';
import { kernelExposes } from '../../../model/expose.js';
import { walkableChains } from './iptables-walk.js';
import { parseIptablesSave } from '../iptables-save.js';
import { parseNftRuleset } from './nft-walk.js';
import { walkChain, type Chain, type Packet, type PartialDrop, type WalkResult } from './rule-walk.js';
import { fail, ok, warn } from '../../../model/finding.js';
import type { Check, DoctorInput, Finding } from '../../../model/context.js';
import { linuxFacts } from './facts.js';
import { NEEDS_ROOT_OUTPUT } from '../../../exec/runner.js';
import { parseRecord, RECORD_PATH, renderRecord } from '../firewall/route-localnet.js';
import type { Step } from '../../../model/steps.js';

/** Container bridges to test: those the engine reports, else the ones on this host, else docker0. */
async function bridgesToTest(input: DoctorInput): Promise<string[]> {
  const facts = linuxFacts(input);
  const engine = await input.engine();
  if (engine.reachable && engine.bridges.length > 0) return engine.bridges.map((b) => b.iface);
  const local = [...new Set((await facts.addresses()).map((a) => a.ifname).filter((n) => n === 'docker0' || n.startsWith('br-')))];
  return local.length > 0 ? local : ['docker0'];
}

/** How a bridge is named in findings: with its network's name when the engine reports one (not the default `bridge`). */
async function bridgeLabels(input: DoctorInput): Promise<Map<string, string>> {
  const engine = await input.engine();
  const labels = new Map<string, string>();
  if (engine.reachable) for (const b of engine.bridges) if (b.name !== 'bridge') labels.set(b.iface, `${b.iface} (network ${b.name})`);
  return labels;
}

/** The elements of `set lan` in `nft list table inet hostalias` output. Pure. */
export function liveLanSet(listing: string): string[] {
  const m = /set lan \{[^}]*?elements = \{([^}]*)\}/.exec(listing);
  return m?.[1] ? [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1] as string) : [];
}

/**
 * Container networks whose traffic hostalias's own guard drops: their bridge is in the live
 * table's LAN set (it existed at `up` and was not known as a container network then).
 */
async function guardDropFindings(input: DoctorInput): Promise<Finding[]> {
  const { desired, hostalias } = input;
  if (!desired.lanGuard) return [];
  const engine = await input.engine();
  if (!engine.reachable) return [];
  const live = await linuxFacts(input).nftHostaliasTable();
  if (live.code !== 0) return [];
  const lan = new Set(liveLanSet(live.stdout));
  return engine.bridges
    .filter((b) => lan.has(b.iface))
    .map((b) =>
      fail(
        'firewall',
        `network ${b.name} (bridge ${b.iface}): hostalias's LAN guard drops its traffic to ${desired.ip}: the bridge was taken for a LAN bridge when the rules were made`,
        `${hostalias('refresh')}  # or, if it has a port to the LAN: ${hostalias(`up --allow-iface ${b.iface}`)}`,
      ),
    );
}

/** Findings for one gate (iptables INPUT, or one nft input base chain) and one bridge. Pure. */
export function judgeGate(gate: string, iface: string, ip: string, res: WalkResult, policyFix: string): Finding[] {
  return judgeGates(gate, [[iface, res]], ip, () => policyFix);
}

/** At most this many interfaces are named in one finding; the rest are counted. */
const NAMED_IFACES = 6;

function listIfaces(ifaces: readonly string[]): string {
  if (ifaces.length <= NAMED_IFACES) return ifaces.join(', ');
  return `${ifaces.slice(0, NAMED_IFACES).join(', ')} and ${ifaces.length - NAMED_IFACES} more`;
}

/**
 * Findings for one gate across every bridge: one finding per rule, naming the bridges it hits,
 * not one per rule and bridge (5,000 rules × 60 bridges once made 305,012 findings). Pure;
 * linear in rules × bridges.
 */
export function judgeGates(gate: string, results: ReadonlyArray<readonly [string, WalkResult]>, ip: string, policyFix: (iface: string) => string): Finding[] {
  const drops = new Map<string, { fix: string; ifaces: string[] }>();
  const policy: string[] = [];
  const partial = new Map<string, { fix: string; how: PartialDrop['how']; ifaces: Set<string> }>();
  for (const [iface, res] of results) {
    if (res.verdict === 'drop') {
      if (res.rule) {
        const entry = drops.get(res.rule.text) ?? { fix: res.rule.deleteFix, ifaces: [] };
        entry.ifaces.push(iface);
        drops.set(res.rule.text, entry);
      } else policy.push(iface);
    }
    for (const p of res.partial) {
      const entry = partial.get(p.rule.text) ?? { fix: p.rule.deleteFix, how: p.how, ifaces: new Set<string>() };
      entry.ifaces.add(iface);
      partial.set(p.rule.text, entry);
    }
  }
  const out: Finding[] = [];
  for (const [text, { fix, ifaces }] of drops) out.push(fail('firewall', `${gate}: \`${text}\` drops traffic from ${listIfaces(ifaces)} to ${ip}`, fix));
  if (policy.length > 0)
    out.push(
      fail(
        'firewall',
        `${gate}: the policy is drop and no rule accepts traffic from ${listIfaces(policy)} to ${ip}`,
        policy.slice(0, NAMED_IFACES).map(policyFix).join(' && '),
      ),
    );
  for (const [text, { fix, how, ifaces }] of partial) {
    const what = how === 'ports' ? 'on some ports' : '(it has conditions doctor cannot evaluate)';
    out.push(
      warn('firewall', `${gate}: \`${text}\` may drop traffic from ${listIfaces([...ifaces])} to ${ip} ${what}`, `${fix}  # if containers should reach it`),
    );
  }
  return out;
}

function walkGate(chains: Map<string, Chain>, base: string, p: Packet): WalkResult {
  return walkChain(chains, base, p);
}

/**
 * A rewrite of the firewall record that only refreshes the container bridges the engine reported
 * (a compose network created after `up`): what `up` keeps for a day the engine doesn't answer, not
 * a rule that differs. Bridges are trusted by kind, so a new network needs nothing.
 */
function onlyBridgesRecorded(s: Step): boolean {
  if (s.kind !== 'write' || s.path !== RECORD_PATH || s.before === null) return false;
  try {
    const [was, will] = [parseRecord(s.before), parseRecord(s.content)];
    return was !== null && will !== null && renderRecord({ ...was, bridges: [] }) === renderRecord({ ...will, bridges: [] });
  } catch {
    return false;
  }
}

/**
 * Whether hostalias's own rules (LAN guard, exposed ports) are loaded as `up` would load them:
 * the firewall part's planner is asked, and any step it would take is a finding.
 */
async function hardeningFindings(input: DoctorInput): Promise<Finding[]> {
  const { desired, state, hostalias } = input;
  const kernel = kernelExposes(desired.exposes);
  if (!state || (!desired.lanGuard && kernel.length === 0 && !desired.exposeAll)) return [];
  const what = [
    desired.lanGuard ? 'the LAN guard' : '',
    kernel.length > 0 ? `exposed ports ${kernel.map((e) => `${e.port}/${e.proto}`).join(', ')}` : '',
    desired.exposeAll ? 'expose --all' : '',
  ]
    .filter(Boolean)
    .join(' and ');
  const rules = await linuxFacts(input).hostaliasRules();
  if (rules === 'needs-root' || rules === null) return [];
  const live = rules.filter((s) => !onlyBridgesRecorded(s));
  if (live.length === 0) return [ok('firewall', `hostalias rules for ${what} are in place`)];
  return [fail('firewall', `hostalias rules for ${what} are not as \`up\` would set them: ${live.map((s) => s.why).join('; ')}`, hostalias('up'))];
}

/**
 * `firewall`: rules or policies that drop a new connection from a container bridge to the alias
 * (iptables INPUT, native nftables input chains, ufw, firewalld), and hostalias's own rules when
 * the LAN guard or expose is on. Reading the ruleset needs root; without it this says so.
 */
export const firewallCheck: Check = {
  id: 'firewall',
  async run(input) {
    const { ctx, desired } = input;
    const ip = desired.ip;
    const bridges = await bridgesToTest(input);
    const labels = await bridgeLabels(input);
    const label = (iface: string) => labels.get(iface) ?? iface;
    const ifaceOf = (l: string) => l.split(' ')[0] ?? l;
    const findings: Finding[] = [];
    const ipt = await linuxFacts(input).iptablesRules();
    const nft = await linuxFacts(input).nftRuleset();
    if (ipt.code === 127 && nft.code === 127) {
      const kernel = input.state !== null ? kernelExposes(desired.exposes) : [];
      const fix = `${INSTALL_PACKET_FILTER} && ${input.hostalias('up')}`;
      if (kernel.length > 0 || (input.state !== null && desired.exposeAll))
        return [
          fail(
            'firewall',
            `no packet filter (nft, iptables) is installed: exposed ports ${[...kernel.map((e) => `${e.port}/${e.proto}`), ...(desired.exposeAll ? ['every port (--all)'] : [])].join(', ')} can't work and the LAN guard is off`,
            fix,
          ),
        ];
      if (desired.lanGuard)
        return [
          warn('firewall', `no packet filter (nft, iptables) is installed: the LAN guard is off (nothing drops containers' traffic to ${ip} either)`, fix),
        ];
      return [ok('firewall', `no packet filter is installed, so nothing drops traffic to ${ip}`)];
    }
    if (NEEDS_ROOT_OUTPUT.test(ipt.stderr) || NEEDS_ROOT_OUTPUT.test(nft.stderr) || (!ctx.isRoot && ipt.code !== 0 && nft.code !== 0)) {
      return [warn('firewall', 'reading the firewall needs root: not checked', input.hostalias('doctor', 'root'))];
    }
    const ufw = ipt.code === 0 && /^-N ufw-/m.test(ipt.stdout);
    const fwd = await ctx.runner.run(['firewall-cmd', '--state']);
    const firewalld = fwd.code === 0 && /running/.test(fwd.stdout);
    const policyFix = (iface: string) => (ufw ? `sudo ufw allow in on ${iface} to ${ip}` : `sudo iptables -I INPUT -i ${iface} -d ${ip} -j ACCEPT`);
    const packets = (iface: string): Packet[] => [{ iface, dst: ip, proto: 'tcp', port: null }];
    if (ipt.code === 0) {
      const chains = walkableChains(parseIptablesSave(ipt.stdout));
      const results = bridges.flatMap((iface) => packets(iface).map((p) => [label(iface), walkGate(chains, 'INPUT', p)] as const));
      findings.push(...judgeGates('iptables INPUT', results, ip, (l) => policyFix(ifaceOf(l))));
    }
    if (nft.code === 0) {
      const parsed = parseNftRuleset(nft.stdout, new Set(['hostalias', ...(firewalld ? ['firewalld'] : [])]));
      for (const gate of parsed.bases) {
        const [family, table] = gate.label.split(' ');
        const fix = (iface: string) => `sudo nft insert rule ${family} ${table} ${gate.base} iifname "${iface}" ip daddr ${ip} accept`;
        const results = bridges.flatMap((iface) => packets(iface).map((p) => [label(iface), walkGate(gate.chains, gate.base, p)] as const));
        findings.push(...judgeGates(`nft ${gate.label}`, results, ip, (l) => fix(ifaceOf(l))));
      }
    }
    if (firewalld) {
      for (const iface of bridges) {
        const zone = await ctx.runner.run(['firewall-cmd', `--get-zone-of-interface=${iface}`]);
        const z = zone.stdout.trim();
        if (zone.code !== 0 || !['docker', 'trusted'].includes(z)) {
          findings.push(
            warn(
              'firewall',
              `firewalld: ${iface} is in zone ${z || '(none: the default zone)'}, which may reject traffic to ${ip}`,
              `sudo firewall-cmd --permanent --zone=trusted --change-interface=${iface} && sudo firewall-cmd --reload`,
            ),
          );
        }
      }
    }
    findings.push(...(await guardDropFindings(input)), ...(await hardeningFindings(input)));
    if (!findings.some((f) => f.status !== 'ok')) {
      const seen = [ipt.code === 0 ? (ufw ? 'iptables (ufw)' : 'iptables') : '', nft.code === 0 ? 'nftables' : '', firewalld ? 'firewalld' : '']
        .filter(Boolean)
        .join(', ');
      findings.unshift(ok('firewall', `nothing drops traffic from ${bridges.join(', ')} to ${ip} (${seen || 'no firewall tools found'})`));
    }
    return findings;
  },
};

/** The command that deletes the first rule dropping TCP `port` from docker0 to the alias, if doctor can name it. */
export async function firewallDropFix(input: DoctorInput, port: number): Promise<string | null> {
  const bridges = await bridgesToTest(input);
  const ipt = await linuxFacts(input).iptablesRules();
  if (ipt.code !== 0) return null;
  const chains = walkableChains(parseIptablesSave(ipt.stdout));
  for (const iface of bridges) {
    const res = walkChain(chains, 'INPUT', { iface, dst: input.desired.ip, proto: 'tcp', port });
    if (res.verdict === 'drop' && res.rule) return res.rule.deleteFix;
  }
  const nft = await linuxFacts(input).nftRuleset();
  if (nft.code !== 0) return null;
  for (const gate of parseNftRuleset(nft.stdout, new Set(['hostalias', 'firewalld'])).bases) {
    for (const iface of bridges) {
      const res = walkChain(gate.chains, gate.base, { iface, dst: input.desired.ip, proto: 'tcp', port });
      if (res.verdict === 'drop' && res.rule) return res.rule.deleteFix;
    }
  }
  return null;
}
