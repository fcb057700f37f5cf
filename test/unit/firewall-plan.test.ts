import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultDesired, type Desired } from '../../src/model/config.js';
import { chooseFirewall } from '../../src/platform/linux/firewall/backend.js';
import { bridgeIfaces, parseBridges } from '../../src/docker/networks.js';
import { UNITS } from '../../src/platform/linux/firewall/boot-units.js';
import { iptablesChains, IPTABLES_FILE, parseIptablesSave, planIptables, renderIptablesRestore } from '../../src/platform/linux/firewall/iptables-rules.js';
import { countChainRules, liveDigest, liveTableCurrent, NFT_FILE, renderNftRuleset, rulesetDigest } from '../../src/platform/linux/firewall/nft-ruleset.js';
import { readFileSync } from 'node:fs';
import { planFirewall, type FirewallObserved } from '../../src/platform/linux/firewall/plan.js';
import { planRouteLocalnet, RECORD_PATH } from '../../src/platform/linux/firewall/route-localnet.js';
import { firewallSpec, type FirewallSpec } from '../../src/platform/linux/firewall/spec.js';
import { parseExpose, parseIfaceName, parsePortProto } from '../../src/model/expose.js';
import { HostaliasError } from '../../src/model/errors.js';
import { renderPlan, type Step } from '../../src/model/steps.js';

const IP = '10.254.254.254';
const spec = (over: Partial<FirewallSpec> = {}): FirewallSpec => ({
  ip: IP,
  guard: true,
  trusted: ['br-0123456789ab', 'docker0'],
  exposes: [{ port: 5432, proto: 'tcp', to: 5432, keepSource: false }],
  ...over,
});

function observed(over: Partial<FirewallObserved> = {}): FirewallObserved {
  return {
    nftListing: null,
    iptables: { chains: {}, jumps: [] },
    routeLocalnet: { docker0: 0, 'br-0123456789ab': 0 },
    record: null,
    files: {},
    links: {},
    paths: { nft: '/usr/sbin/nft', iptablesRestore: '/usr/sbin/iptables-restore', node: '/usr/bin/node', cli: '/opt/hostalias/dist/cli/main.js' },
    systemdInstalled: true,
    systemdRunning: false,
    rootPrefix: '',
    ...over,
  };
}

const shell = (steps: Step[]) => renderPlan({ steps, notes: [], warnings: [] }, { rooted: false, root: '/' });

/** Applies a plan's effects on the observation, as the real system would. */
function applyTo(obs: FirewallObserved, steps: Step[], s: FirewallSpec | null): FirewallObserved {
  const next: FirewallObserved = { ...obs, files: { ...obs.files }, links: { ...obs.links }, routeLocalnet: { ...obs.routeLocalnet } };
  for (const st of steps) {
    if (st.kind === 'write') next.files[st.path] = st.content;
    if (st.kind === 'remove') {
      next.files[st.path] = null;
      next.links[st.path] = null;
    }
    if (st.kind === 'symlink') next.links[st.path] = st.target;
    if (st.kind === 'run' && st.argv[0] === 'sysctl') {
      const m = /conf[./]([^./]+)[./]route_localnet=(\d)/.exec(st.argv.join(' '));
      if (m?.[1]) next.routeLocalnet[m[1]] = Number(m[2]);
    }
    if (st.kind === 'run' && st.argv.join(' ') === 'nft delete table inet hostalias') next.nftListing = null;
    // nft lists the table as the file declares it (from `table inet hostalias {` on).
    if (st.kind === 'run' && st.argv[1] === '-f' && s) next.nftListing = renderNftRuleset(s).slice(renderNftRuleset(s).indexOf('table inet hostalias {'));
  }
  const rec = next.files[RECORD_PATH];
  next.record = rec ? (JSON.parse(rec) as FirewallObserved['record']) : null;
  return next;
}

test('the nftables ruleset: guard before conntrack, DNAT on trusted bridges, SNAT to 127.0.0.1, 127/8 hardening', () => {
  const text = renderNftRuleset(spec({ exposes: [{ port: 5432, proto: 'tcp', to: 5432, keepSource: false }, { port: 53, proto: 'udp', to: 5353, keepSource: true }] }));
  assert.match(text, /^table inet hostalias\ndelete table inet hostalias\ntable inet hostalias \{$/m, 'atomic replace in one transaction');
  assert.match(text, /set trusted \{ type ifname; elements = \{ "br-0123456789ab", "docker0" \}; \}/);
  assert.match(text, /type filter hook prerouting priority raw;[^\n]*\n\t\tip daddr 10\.254\.254\.254 iifname "lo" accept\n\t\tip daddr 10\.254\.254\.254 iifname @trusted accept\n\t\tip daddr 10\.254\.254\.254 drop/);
  assert.match(text, /iifname @trusted ip daddr 10\.254\.254\.254 tcp dport 5432 dnat ip to 127\.0\.0\.1:5432/);
  assert.match(text, /iifname @trusted ip daddr 10\.254\.254\.254 udp dport 53 dnat ip to 127\.0\.0\.1:5353/);
  assert.match(text, /ct original proto-dst 5432 snat ip to 127\.0\.0\.1/);
  assert.doesNotMatch(text, /proto-dst 53 snat/, '--keep-source: no SNAT');
  assert.match(text, /iifname != "lo" ip daddr 127\.0\.0\.0\/8 ct status & dnat == 0 drop/);
  const guardOnly = renderNftRuleset(spec({ exposes: [] }));
  assert.doesNotMatch(guardOnly, /chain (expose|source|localnet)/, 'no exposes: no NAT, no hardening');
  assert.match(renderNftRuleset(spec({ trusted: [], guard: false })), /set trusted \{ type ifname; \}/, 'an empty set has no elements clause (nft rejects `{ }`)');
  assert.equal(liveDigest(`table inet hostalias {\n\tcomment "hostalias:${rulesetDigest(spec())}"`), rulesetDigest(spec()));
  assert.equal(liveDigest(null), null);
});

test('firewallSpec: none without guard or exposes; lo never in the set; allow-ifaces join bridges', () => {
  const d: Desired = { ...defaultDesired(), lanGuard: false };
  assert.equal(firewallSpec(d, ['docker0']), null);
  assert.equal(firewallSpec(null, ['docker0']), null);
  assert.equal(defaultDesired().lanGuard, true, 'the guard is on by default');
  assert.deepEqual(firewallSpec({ ...defaultDesired(), allowIfaces: ['wg0', 'lo', 'docker0'] }, ['docker0', 'br-0123456789ab'])?.trusted, ['br-0123456789ab', 'docker0', 'wg0']);
});

test('docker bridge names come from Docker, not a br-* pattern', () => {
  const inspect = JSON.stringify([
    { Name: 'bridge', Id: 'aaaaaaaaaaaa1111', Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'docker0' } },
    { Name: 'compose_default', Id: 'bbbbbbbbbbbb2222', Driver: 'bridge', Options: {} },
    { Name: 'custom', Id: 'cccccccccccc3333', Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'mybr0' } },
    { Name: 'lan', Id: 'dddddddddddd4444', Driver: 'macvlan', Options: { parent: 'br-lan' } },
  ]);
  assert.deepEqual(bridgeIfaces(parseBridges(inspect)), ['br-bbbbbbbbbbbb', 'docker0', 'mybr0']);
});

test('parsing expose arguments; bad input is a usage error (exit 2)', () => {
  assert.deepEqual(parseExpose('5432'), { port: 5432, proto: 'tcp', to: 5432, keepSource: false });
  assert.deepEqual(parseExpose('53/UDP', { to: '5353', keepSource: true }), { port: 53, proto: 'udp', to: 5353, keepSource: true });
  for (const bad of ['0', '65536', 'abc', '80/sctp', '', '-1', '1.5']) {
    assert.throws(() => parsePortProto(bad), (e: unknown) => e instanceof HostaliasError && e.code === 'usage', bad);
  }
  assert.throws(() => parseExpose('80', { to: '99999' }), /--to port 99999 is out of range/);
  assert.throws(() => parseIfaceName('eth0; rm'), (e: unknown) => e instanceof HostaliasError && e.code === 'usage');
  assert.throws(() => parseIfaceName('a-name-longer-than-15'), HostaliasError);
});

test('route_localnet: set on wanted bridges, previous values recorded and restored exactly', () => {
  const up = planRouteLocalnet(['docker0', 'br-x', 'gone0'], { docker0: 0, 'br-x': 1 }, {});
  assert.equal(shell(up.steps), '$ sysctl -q -w net.ipv4.conf.docker0.route_localnet=1');
  assert.deepEqual(up.record, { 'br-x': 1, docker0: 0 });
  const again = planRouteLocalnet(['docker0', 'br-x'], { docker0: 1, 'br-x': 1 }, up.record);
  assert.deepEqual(again.steps, [], 'idempotent');
  const down = planRouteLocalnet([], { docker0: 1, 'br-x': 1 }, up.record);
  assert.equal(shell(down.steps), '$ sysctl -q -w net.ipv4.conf.docker0.route_localnet=0', 'br-x was already 1: left at 1');
  assert.deepEqual(down.record, {});
  assert.equal(shell(planRouteLocalnet(['eth0.100'], { 'eth0.100': 0 }, {}).steps), '$ sysctl -q -w net/ipv4/conf/eth0.100/route_localnet=1');
});

test('nftables plan: fresh install, then nothing to do, then down removes everything', () => {
  const obs = observed();
  const s = spec();
  const up = planFirewall(s, 'nftables', obs);
  assert.equal(
    shell(up.steps.filter((x) => x.kind === 'run')),
    ['$ nft -f /etc/hostalias/firewall.nft', '$ sysctl -q -w net.ipv4.conf.br-0123456789ab.route_localnet=1', '$ sysctl -q -w net.ipv4.conf.docker0.route_localnet=1'].join('\n'),
    'rules (with the 127/8 hardening) load before route_localnet is turned on',
  );
  assert.deepEqual(up.steps.filter((x) => x.kind !== 'run').map((x) => x.kind === 'symlink' ? `link ${x.path}` : `${x.kind} ${x.path}`), [
    `write ${RECORD_PATH}`,
    `write ${NFT_FILE}`,
    `write ${UNITS.firewall}`,
    `write ${UNITS.bridges}`,
    `link ${UNITS.firewallWants}`,
    `link ${UNITS.bridgesWants}`,
  ]);
  const load = up.steps.find((x) => x.kind === 'run' && x.argv[0] === 'nft');
  assert.deepEqual(load?.kind === 'run' ? load.undo : null, ['nft', 'delete', 'table', 'inet', 'hostalias'], 'rollback of a first load deletes the table');
  const unit = up.steps.find((x) => x.kind === 'write' && x.path === UNITS.firewall);
  assert.match(unit?.kind === 'write' ? unit.content : '', /^ExecStart=\/usr\/sbin\/nft -f \/etc\/hostalias\/firewall\.nft$/m);
  const after = applyTo(obs, up.steps, s);
  assert.deepEqual(planFirewall(s, 'nftables', after).steps, [], 'planning again after apply: no steps');

  const down = planFirewall(null, 'nftables', after);
  assert.equal(
    shell(down.steps),
    [
      `$ rm -f ${UNITS.bridgesWants}`,
      `$ rm -f ${UNITS.firewallWants}`,
      `$ rm -f ${UNITS.bridges}`,
      `$ rm -f ${UNITS.firewall}`,
      '$ sysctl -q -w net.ipv4.conf.br-0123456789ab.route_localnet=0',
      '$ sysctl -q -w net.ipv4.conf.docker0.route_localnet=0',
      '$ nft delete table inet hostalias',
      `$ rm -f ${NFT_FILE}`,
      `$ rm -f ${RECORD_PATH}`,
    ].join('\n'),
  );
  assert.deepEqual(planFirewall(null, 'nftables', applyTo(after, down.steps, null)).steps, [], 'second down: nothing');
});

test('nftables plan: a new bridge reloads the table and turns route_localnet on only there', () => {
  const s = spec();
  const obs = applyTo(observed(), planFirewall(s, 'nftables', observed()).steps, s);
  const s2 = spec({ trusted: ['br-0123456789ab', 'br-fedcba987654', 'docker0'] });
  const obs2 = { ...obs, routeLocalnet: { ...obs.routeLocalnet, 'br-fedcba987654': 0 } };
  const plan = planFirewall(s2, 'nftables', obs2);
  assert.equal(shell(plan.steps.filter((x) => x.kind === 'run')), ['$ nft -f /etc/hostalias/firewall.nft', '$ sysctl -q -w net.ipv4.conf.br-fedcba987654.route_localnet=1'].join('\n'));
  const reload = plan.steps.find((x) => x.kind === 'run' && x.argv[0] === 'nft');
  assert.equal(reload?.kind === 'run' ? reload.undo?.[0] : '', 'nft', 'rollback reloads the previous ruleset');
  assert.equal(reload?.kind === 'run' ? reload.undo?.[1] : '', obs.files[NFT_FILE]);
});

test('under --root the live load reads the rooted file; without systemd no units, a note instead', () => {
  const plan = planFirewall(spec(), 'nftables', observed({ rootPrefix: '/tmp/img', systemdInstalled: false }));
  assert.ok(plan.steps.some((x) => x.kind === 'run' && x.argv.join(' ') === 'nft -f /tmp/img/etc/hostalias/firewall.nft'));
  assert.ok(!plan.steps.some((x) => x.kind === 'write' && x.path.startsWith('/etc/systemd')));
  assert.match(plan.notes.join('\n'), /not restored at boot/);
});

test('iptables: chains in iptables-save form, plan, idempotence, removal', () => {
  const s = spec({ exposes: [{ port: 5432, proto: 'tcp', to: 5432, keepSource: false }, { port: 53, proto: 'udp', to: 53, keepSource: true }] });
  const chains = iptablesChains(s);
  assert.deepEqual(chains.map((c) => `${c.table} ${c.hook} ${c.name}`), ['raw PREROUTING HOSTALIAS-GUARD', 'nat PREROUTING HOSTALIAS-DNAT', 'nat INPUT HOSTALIAS-SNAT', 'filter INPUT HOSTALIAS-LOCALNET']);
  const plan = planIptables(s, { chains: {}, jumps: [] });
  assert.equal(shell(plan), [
    '$ iptables -w -t raw -N HOSTALIAS-GUARD',
    '$ iptables -w -t raw -A HOSTALIAS-GUARD -d 10.254.254.254/32 -i lo -j RETURN',
    '$ iptables -w -t raw -A HOSTALIAS-GUARD -d 10.254.254.254/32 -i br-0123456789ab -j RETURN',
    '$ iptables -w -t raw -A HOSTALIAS-GUARD -d 10.254.254.254/32 -i docker0 -j RETURN',
    '$ iptables -w -t raw -A HOSTALIAS-GUARD -d 10.254.254.254/32 -j DROP',
    '$ iptables -w -t raw -I PREROUTING 1 -j HOSTALIAS-GUARD',
    '$ iptables -w -t nat -N HOSTALIAS-DNAT',
    '$ iptables -w -t nat -A HOSTALIAS-DNAT -d 10.254.254.254/32 -i br-0123456789ab -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432',
    '$ iptables -w -t nat -A HOSTALIAS-DNAT -d 10.254.254.254/32 -i docker0 -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432',
    '$ iptables -w -t nat -A HOSTALIAS-DNAT -d 10.254.254.254/32 -i br-0123456789ab -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53',
    '$ iptables -w -t nat -A HOSTALIAS-DNAT -d 10.254.254.254/32 -i docker0 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53',
    '$ iptables -w -t nat -I PREROUTING 1 -j HOSTALIAS-DNAT',
    '$ iptables -w -t nat -N HOSTALIAS-SNAT',
    '$ iptables -w -t nat -A HOSTALIAS-SNAT -d 127.0.0.1/32 -p tcp -m conntrack --ctstate DNAT --ctorigdst 10.254.254.254 --ctorigdstport 5432 -j SNAT --to-source 127.0.0.1',
    '$ iptables -w -t nat -I INPUT 1 -j HOSTALIAS-SNAT',
    '$ iptables -w -t filter -N HOSTALIAS-LOCALNET',
    "$ iptables -w -t filter -A HOSTALIAS-LOCALNET -d 127.0.0.0/8 '!' -i lo -m conntrack '!' --ctstate DNAT -j DROP",
    '$ iptables -w -t filter -I INPUT 1 -j HOSTALIAS-LOCALNET',
  ].join('\n'));
  // What iptables-save prints after that plan ran:
  const save = ['*raw', ':HOSTALIAS-GUARD - [0:0]', '-A PREROUTING -j HOSTALIAS-GUARD', '*nat', ':HOSTALIAS-DNAT - [0:0]', ':HOSTALIAS-SNAT - [0:0]', '-A PREROUTING -j HOSTALIAS-DNAT', '-A INPUT -j HOSTALIAS-SNAT', '*filter', ':HOSTALIAS-LOCALNET - [0:0]', '-A INPUT -j HOSTALIAS-LOCALNET',
    ...chains.flatMap((c) => c.rules.map((r) => `-A ${c.name} ${r}`))].join('\n');
  const obs = parseIptablesSave(save);
  assert.deepEqual(planIptables(s, obs), [], 'idempotent against iptables-save output');
  const changed = planIptables(spec({ exposes: [] , trusted: ['docker0'] }), obs);
  assert.match(shell(changed), /-t raw -F HOSTALIAS-GUARD\n.*-A HOSTALIAS-GUARD -d 10\.254\.254\.254\/32 -i lo -j RETURN/);
  assert.match(shell(changed), /-t nat -D PREROUTING -j HOSTALIAS-DNAT\n.*-t nat -F HOSTALIAS-DNAT\n.*-t nat -X HOSTALIAS-DNAT/);
  assert.equal(planIptables(null, obs).filter((x) => x.kind === 'run' && x.argv.includes('-X')).length, 4, 'down deletes every chain');
  const restore = renderIptablesRestore(s);
  assert.match(restore, /^\*raw\n:HOSTALIAS-GUARD - \[0:0\]\n-I PREROUTING 1 -j HOSTALIAS-GUARD\n/m);
});

test('iptables plan via planFirewall: switching backend removes the nftables table', () => {
  const s = spec();
  const obs = observed({ nftListing: 'table inet hostalias {}', files: { [NFT_FILE]: 'old' } });
  const plan = planFirewall(s, 'iptables', obs);
  const lines = shell(plan.steps);
  assert.match(lines, /\$ nft delete table inet hostalias\n\$ rm -f \/etc\/hostalias\/firewall\.nft/);
  assert.ok(plan.steps.some((x) => x.kind === 'write' && x.path === IPTABLES_FILE));
  const unit = plan.steps.find((x) => x.kind === 'write' && x.path === UNITS.firewall);
  assert.match(unit?.kind === 'write' ? unit.content : '', /^ExecStart=\/usr\/sbin\/iptables-restore -w 5 --noflush \/etc\/hostalias\/firewall\.iptables$/m);
});

test('backend choice says why; missing tools are refused with the fix', () => {
  assert.deepEqual(chooseFirewall('auto', { nft: true, iptables: 'nf_tables' }), { backend: 'nftables', reason: 'nftables (nft found)' });
  assert.deepEqual(chooseFirewall('auto', { nft: false, iptables: 'legacy' }), { backend: 'iptables', reason: 'iptables (legacy) (nft not found)' });
  assert.equal(chooseFirewall('iptables', { nft: true, iptables: 'nf_tables' }).backend, 'iptables');
  assert.throws(() => chooseFirewall('auto', { nft: false, iptables: null }), (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /no-lan-guard/.test(e.fix ?? ''));
  assert.throws(() => chooseFirewall('nftables', { nft: false, iptables: 'legacy' }), /nft is not installed/);
});

test('a rule deleted by hand makes the live table stale, though its comment is unchanged', () => {
  // Captured with `nft list table inet hostalias` after `up --allow-iface lo2` + `expose 5432` in a namespace.
  const listing = readFileSync(new URL('../../../test/fixtures/linux/nft-list-table-hostalias.txt', import.meta.url), 'utf8');
  const s = spec({ trusted: ['lo2'] });
  assert.deepEqual(countChainRules(listing), { guard: 3, expose: 1, source: 1, localnet: 1 });
  assert.deepEqual(countChainRules(renderNftRuleset(s)), countChainRules(listing), 'our file and the nft listing count alike');
  assert.equal(liveTableCurrent(listing, s), true);
  const hardeningGone = listing.split('\n').filter((l) => !l.includes('127.0.0.0/8')).join('\n');
  assert.equal(liveTableCurrent(hardeningGone, s), false);
  const plan = planFirewall(s, 'nftables', observed({ nftListing: hardeningGone }));
  assert.match(shell(plan.steps), /\$ nft -f \/etc\/hostalias\/firewall\.nft/, 'up reloads the table');
});
