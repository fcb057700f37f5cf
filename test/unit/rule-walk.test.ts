/**
 * doctor's firewall walk on rulesets where many rules jump to the same chains: it must answer (no
 * "Maximum call stack size exceeded"), in work linear in the rules (counted, not timed), and give
 * the verdict and the partial drops a walk of every path gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeGate } from '../../src/platform/linux/doctor/check-firewall.js';
import { walkableChains } from '../../src/platform/linux/doctor/iptables-walk.js';
import {
  walkChain,
  type Chain,
  type MatchResult,
  type Packet,
  type PartialDrop,
  type WalkResult,
  type WalkStats,
} from '../../src/platform/linux/doctor/rule-walk.js';
import { parseIptablesSave } from '../../src/platform/linux/iptables-save.js';

const PACKET: Packet = { iface: 'docker0', dst: '10.254.254.254', proto: 'tcp', port: null };

function ruleCount(chains: ReadonlyMap<string, Chain>): number {
  return [...chains.values()].reduce((n, c) => n + c.rules.length, 0);
}

/** `iptables -S` of INPUT (policy ACCEPT) and `levels` chains below it, each with `width` jumps to the next. */
function nestedJumps(levels: number, width: number): string {
  const lines = ['-P INPUT ACCEPT', ...Array.from({ length: levels }, (_, i) => `-N L${i + 1}`)];
  for (let i = 0; i < width; i++) lines.push(`-A INPUT -s 198.51.100.${i}/32 -j L1`);
  for (let level = 1; level < levels; level++) {
    for (let i = 0; i < width; i++) lines.push(`-A L${level} -s 198.51.100.${i}/32 -j L${level + 1}`);
  }
  lines.push(`-A L${levels} -s 192.0.2.0/24 -j DROP`, `-A L${levels} -p tcp --dport 5432 -j DROP`);
  return `${lines.join('\n')}\n`;
}

test('six levels of ten jumps: doctor answers, lists the drop once, and walks each chain once', () => {
  const chains = walkableChains(parseIptablesSave(nestedJumps(6, 10)));
  const stats: WalkStats = { chains: 0, rules: 0 };
  const res = walkChain(chains, 'INPUT', PACKET, stats);
  assert.equal(res.verdict, 'accept', 'the policy decides: every rule only may match (-s is a condition doctor cannot evaluate)');
  assert.deepEqual(
    res.partial.map((d) => `${d.how} ${d.rule.text}`),
    // Under jumps doctor can't evaluate, a drop limited to some ports is a "maybe" too.
    ['maybe -A L6 -s 192.0.2.0/24 -j DROP', 'maybe -A L6 -p tcp --dport 5432 -j DROP'],
  );
  // What doctor prints from it: one warning per rule.
  assert.deepEqual(
    judgeGate('iptables INPUT', 'docker0', PACKET.dst, res, 'unused').map((f) => f.fix),
    [
      'sudo iptables -D L6 -s 192.0.2.0/24 -j DROP  # if containers should reach it',
      'sudo iptables -D L6 -p tcp --dport 5432 -j DROP  # if containers should reach it',
    ],
  );
  // One walk of each chain (INPUT and L1..L6), each rule matched once: a walk of every path would be 10^6 walks.
  assert.deepEqual(stats, { chains: 7, rules: ruleCount(chains) });
});

/** A deterministic generator (mulberry32), so a failing ruleset can be rebuilt from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ (t + Math.imul(t ^ (t >>> 14), 113 | t));
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `iptables -S` of a layered ruleset: `levels` levels of `perLevel` chains, each with `rules`
 * rules drawn at random: jumps and gotos to chains of deeper levels, accepts, drops and returns,
 * each with a condition that matches, doesn't, matches some ports or can't be evaluated.
 */
function layered(
  seed: number,
  levels: number,
  perLevel: number,
  rules: number,
  conds = ['-i docker0', '-i eth9', '-p tcp --dport 5432', '-s 192.0.2.1/32', '-d 10.254.254.254/32', '-p udp', ''],
): string {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const name = (level: number, i: number) => `C${level}_${i}`;
  const lines = ['-P INPUT ACCEPT'];
  for (let l = 1; l <= levels; l++) for (let i = 0; i < perLevel; i++) lines.push(`-N ${name(l, i)}`);
  const chainsAt = (l: number) => (l === 0 ? ['INPUT'] : Array.from({ length: perLevel }, (_, i) => name(l, i)));
  for (let l = 0; l < levels; l++) {
    for (const chain of chainsAt(l)) {
      for (let r = 0; r < rules; r++) {
        const cond = pick(conds);
        const roll = rnd();
        const deeper = name(l + 1 + Math.floor(rnd() * (levels - l)), Math.floor(rnd() * perLevel));
        const target = roll < 0.6 ? `-j ${deeper}` : roll < 0.7 ? `-g ${deeper}` : roll < 0.8 ? '-j DROP' : roll < 0.9 ? '-j RETURN' : '-j ACCEPT';
        lines.push(`-A ${chain} ${cond} ${target}`.replace(/ +/g, ' '));
      }
    }
  }
  for (let i = 0; i < perLevel; i++) lines.push(`-A ${name(levels, i)} ${pick(conds)} -j DROP`.replace(/ +/g, ' '));
  return `${lines.join('\n')}\n`;
}

/** The walk as doctor did it before it remembered chains: every path expanded. The reference answer. */
function walkEveryPath(chains: ReadonlyMap<string, Chain>, name: string, p: Packet, depth = 0, outer: MatchResult = 'yes'): WalkResult {
  const rank: Record<MatchResult, number> = { yes: 3, ports: 2, maybe: 1, no: 0 };
  const chain = chains.get(name);
  const partial: PartialDrop[] = [];
  if (!chain || depth > 16) return { verdict: 'return', partial };
  for (const rule of chain.rules) {
    const own = rule.match(p);
    const m = rank[own] <= rank[outer] ? own : outer;
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
      const sub = walkEveryPath(chains, t.chain, p, depth + 1, m);
      for (const d of sub.partial) partial.push(d);
      if (sub.verdict !== 'return' && m === 'yes') return { ...sub, partial };
      if (t.kind === 'goto' && m === 'yes') return { verdict: 'return', partial };
    }
  }
  if (chain.policy === 'drop') return { verdict: 'drop', rule: null, partial };
  if (chain.policy === 'accept') return { verdict: 'accept', rule: null, partial };
  return { verdict: 'return', partial };
}

/** A walk result as text: the verdict, its rule, and the partial drops once each in the order first met. */
function summary(res: WalkResult): string[] {
  const partial = [...new Set(res.partial.map((d) => `${d.how} ${d.rule.text}`))];
  return [`${res.verdict} ${'rule' in res ? (res.rule?.text ?? '(policy)') : ''}`, ...partial];
}

test('random layered rulesets: the same verdict, rule and partial drops as a walk of every path', () => {
  const packets: Packet[] = [PACKET, { ...PACKET, port: 5432 }, { ...PACKET, iface: 'br-1', proto: 'udp' }];
  for (let seed = 1; seed <= 150; seed++) {
    const chains = walkableChains(parseIptablesSave(layered(seed, 4, 3, 4)));
    for (const p of packets) {
      assert.deepEqual(summary(walkChain(chains, 'INPUT', p)), summary(walkEveryPath(chains, 'INPUT', p)), `seed ${seed}, ${JSON.stringify(p)}`);
    }
  }
});

test('a large generated ruleset (16 levels of 40 chains, 20 rules each): work bounded by the rules, not the paths', () => {
  // Conditions doctor can't evaluate or that match only some ports: no rule decides, every path is open.
  const chains = walkableChains(parseIptablesSave(layered(7, 16, 40, 20, ['-s 192.0.2.1/32', '-p tcp --dport 5432', '-m limit --limit 5/s'])));
  const rules = ruleCount(chains);
  assert.ok(rules > 12_000, `${rules} rules`);
  for (const p of [PACKET, { ...PACKET, port: 5432 }]) {
    const stats: WalkStats = { chains: 0, rules: 0 };
    const res = walkChain(chains, 'INPUT', p, stats);
    if (p.port === null) {
      assert.equal(res.verdict, 'accept', 'no rule decides for any port: the policy does');
      assert.ok(stats.chains > chains.size / 2 && res.partial.length > 100, `${stats.chains} chain walks, ${res.partial.length} partial drops`);
    }
    // A chain is walked at most once per strength of the match leading into it (yes, ports, maybe).
    assert.ok(stats.chains <= 3 * chains.size, `${stats.chains} chain walks for ${chains.size} chains`);
    assert.ok(stats.rules <= 3 * rules, `${stats.rules} rule matches for ${rules} rules`);
    const listed = { ports: new Set(), maybe: new Set() };
    for (const d of res.partial) listed[d.how].add(d.rule);
    assert.equal(listed.ports.size + listed.maybe.size, res.partial.length, 'each partial drop listed once');
  }
});

test('a loop between chains (which the kernel refuses, but a saved ruleset can hold) ends: the loop counts as a return', () => {
  const chains = walkableChains(parseIptablesSave('-P INPUT DROP\n-N A\n-N B\n-A INPUT -j A\n-A A -j B\n-A B -j A\n-A B -i docker0 -j ACCEPT\n'));
  const stats: WalkStats = { chains: 0, rules: 0 };
  const res = walkChain(chains, 'INPUT', PACKET, stats);
  assert.equal(res.verdict, 'accept');
  assert.equal(stats.chains, 3);
});
