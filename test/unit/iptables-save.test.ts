import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseIptablesSave } from '../../src/platform/linux/iptables-save.js';
import { ourChains } from '../../src/platform/linux/firewall/iptables-rules.js';
import { walkableChains } from '../../src/platform/linux/doctor/iptables-walk.js';
import { walkChain } from '../../src/platform/linux/doctor/rule-walk.js';

// Both captured with iptables v1.8.9 (nf_tables) in a throwaway network namespace.
const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/linux/${name}`, import.meta.url), 'utf8');
const SAVE = fixture('iptables-save-raw-filter.txt');
const DASH_S = fixture('iptables-S-filter.txt');

test('one iptables dump parser: iptables-save (two tables) and iptables -S give the same filter chains', () => {
  const save = parseIptablesSave(SAVE);
  assert.deepEqual(
    save.map((c) => `${c.table}/${c.name} ${c.policy ?? '-'} ${c.rules.length}`),
    [
      'raw/PREROUTING ACCEPT 1',
      'raw/OUTPUT ACCEPT 0',
      'raw/HOSTALIAS-GUARD - 2',
      'filter/INPUT DROP 1',
      'filter/FORWARD ACCEPT 0',
      'filter/OUTPUT ACCEPT 0',
      'filter/MYCHAIN - 1',
    ],
  );
  assert.deepEqual(
    parseIptablesSave(DASH_S),
    save.filter((c) => c.table === 'filter'),
  );
});

test('the firewall planner and the doctor walker read the same parse', () => {
  const saved = parseIptablesSave(SAVE);
  assert.deepEqual(ourChains(saved), {
    chains: { 'HOSTALIAS-GUARD': ['-d 10.254.254.254/32 -i lo -j RETURN', '-d 10.254.254.254/32 -j DROP'] },
    jumps: ['PREROUTING>HOSTALIAS-GUARD'],
  });
  const walk = walkChain(walkableChains(parseIptablesSave(DASH_S)), 'INPUT', { iface: 'docker0', dst: '10.254.254.254', proto: 'tcp', port: null });
  assert.equal(walk.verdict, 'drop');
  assert.equal(
    walk.verdict === 'drop' ? walk.rule?.deleteFix : null,
    'sudo iptables -D MYCHAIN -d 10.254.254.254/32 -j REJECT --reject-with icmp-port-unreachable',
  );
  // Negative control: another bridge never reaches MYCHAIN's rule; only INPUT's DROP policy stops it.
  const other = walkChain(walkableChains(parseIptablesSave(DASH_S)), 'INPUT', { iface: 'br-1', dst: '10.254.254.254', proto: 'tcp', port: null });
  assert.ok(other.verdict === 'drop' && other.rule === null, JSON.stringify(other));
});
