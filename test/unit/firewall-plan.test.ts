import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultDesired, type Desired } from '../../src/model/config.js';
import { chooseFirewall } from '../../src/platform/linux/firewall/backend.js';
import { bridgeIfaces, parseBridges, parsePodmanNetworkLines } from '../../src/docker/networks.js';
import { parseLinks } from '../../src/platform/linux/firewall/observe.js';
import { UNITS } from '../../src/platform/linux/firewall/boot-units.js';
import { iptablesChains, IPTABLES_FILE, ourChains, planIptables, renderIptablesRestore } from '../../src/platform/linux/firewall/iptables-rules.js';
import { parseIptablesSave } from '../../src/platform/linux/iptables-save.js';
import { countChainRules, liveDigest, liveTableCurrent, NFT_FILE, renderNftRuleset, rulesetDigest } from '../../src/platform/linux/firewall/nft-ruleset.js';
import { readFileSync } from 'node:fs';
import { planFirewall, type FirewallObserved } from '../../src/platform/linux/firewall/plan.js';
import { planRouteLocalnet, RECORD_PATH } from '../../src/platform/linux/firewall/route-localnet.js';
import { classifyBridges, firewallSpec, type FirewallSpec } from '../../src/platform/linux/firewall/spec.js';
import { EXPOSE_EXAMPLE, parseExpose, parseIfaceName } from '../../src/model/expose.js';
import { parsePortProto } from '../../src/model/ports.js';
import { HostaliasError } from '../../src/model/errors.js';
import { renderPlan, type Step } from '../../src/model/steps.js';

const IP = '10.254.254.254';
const spec = (over: Partial<FirewallSpec> = {}): FirewallSpec => ({
  ip: IP,
  guard: true,
  allowed: [],
  lan: ['br-lan'],
  containerBridges: ['docker0', 'br-+', 'cni-podman+', 'podman+'],
  exposes: [{ port: 5432, proto: 'tcp', to: 5432, keepSource: false }],
  all: null,
  ...over,
});

function observed(over: Partial<FirewallObserved> = {}): FirewallObserved {
  return {
    nftListing: null,
    iptables: { chains: {}, jumps: [] },
    routeLocalnet: { all: 0 },
    record: null,
    files: {},
    links: {},
    paths: { nft: '/usr/sbin/nft', iptablesRestore: '/usr/sbin/iptables-restore', sysctl: '/usr/sbin/sysctl' },
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

test('the nftables ruleset: guard before conntrack trusting bridges by kind, DNAT from bridges and the host, SNAT to 127.0.0.1, 127/8 hardening', () => {
  const text = renderNftRuleset(
    spec({
      allowed: ['wg0'],
      exposes: [
        { port: 5432, proto: 'tcp', to: 5432, keepSource: false },
        { port: 53, proto: 'udp', to: 5353, keepSource: true },
      ],
    }),
  );
  assert.match(text, /^table inet hostalias\ndelete table inet hostalias\ntable inet hostalias \{$/m, 'atomic replace in one transaction');
  assert.match(text, /set allowed \{ type ifname; elements = \{ "wg0" \}; \}/);
  assert.match(text, /set lan \{ type ifname; elements = \{ "br-lan" \}; \}/);
  assert.match(
    text,
    /type filter hook prerouting priority raw;[^\n]*\n\t\tip daddr 10\.254\.254\.254 iifname "lo" accept\n\t\tip daddr 10\.254\.254\.254 iifname @allowed accept\n\t\tip daddr 10\.254\.254\.254 iifname @lan drop\n\t\tip daddr 10\.254\.254\.254 meta iifkind "bridge" accept\n\t\tip daddr 10\.254\.254\.254 drop/,
  );
  assert.match(
    text,
    /chain ports \{\n\t\tip daddr 10\.254\.254\.254 tcp dport 5432 dnat ip to 127\.0\.0\.1:5432\n\t\tip daddr 10\.254\.254\.254 udp dport 53 dnat ip to 127\.0\.0\.1:5353\n/,
  );
  assert.match(
    text,
    /hook prerouting priority dstnat;[^\n]*\n\t\tip daddr 10\.254\.254\.254 iifname @allowed goto ports\n\t\tip daddr 10\.254\.254\.254 iifname @lan return\n\t\tip daddr 10\.254\.254\.254 meta iifkind "bridge" goto ports/,
  );
  assert.match(
    text,
    /hook output priority -100;[^\n]*\n\t\tip daddr 10\.254\.254\.254 goto ports/,
    'the host itself (and rootless engines) are DNATed at output',
  );
  assert.match(text, /ct original proto-dst 5432 snat ip to 127\.0\.0\.1/);
  assert.match(text, /hook postrouting priority srcnat;[^\n]*\n\t\toifname "lo" jump sources/, 'local clients get their SNAT at postrouting');
  assert.doesNotMatch(text, /proto-dst 53 snat/, '--keep-source: no SNAT');
  assert.match(text, /iifname != "lo" ip daddr 127\.0\.0\.0\/8 ct status & dnat == 0 drop/);
  assert.match(text, /iifname != "lo" ip saddr 127\.0\.0\.0\/8 drop/);
  const guardOnly = renderNftRuleset(spec({ exposes: [] }));
  assert.doesNotMatch(guardOnly, /chain (ports|expose|local|source|localnet|martian)/, 'no exposes: no NAT, no hardening');
  assert.match(renderNftRuleset(spec({ lan: [], guard: false })), /set lan \{ type ifname; \}/, 'an empty set has no elements clause (nft rejects `{ }`)');
  assert.equal(liveDigest(`table inet hostalias {\n\tcomment "hostalias:${rulesetDigest(spec())}"`), rulesetDigest(spec()));
  assert.equal(liveDigest(null), null);
});

test('bridges: a veth-only bridge an engine reports or names is a container network; anything with another port, or unknown, is LAN', () => {
  // Shapes as `ip -j -d link show` prints them (captured in a lab namespace: docker0, a compose
  // network, Podman's cni-podman0, a LAN bridge with a NIC, br-lan with a veth to a neighbour).
  const links = parseLinks(
    JSON.stringify([
      { ifname: 'lo' },
      { ifname: 'eth0' },
      { ifname: 'docker0', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'vethA', master: 'docker0', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge' } },
      { ifname: 'br-0123456789ab', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'cni-podman0', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'mynet', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'br0', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'eth1', master: 'br0' },
      { ifname: 'br-fedcba987654', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'enp3s0', master: 'br-fedcba987654' },
      { ifname: 'br-lan', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'vethL', master: 'br-lan', linkinfo: { info_kind: 'veth' } },
      { ifname: 'virbr0', linkinfo: { info_kind: 'bridge' } },
      { ifname: 'vnet0', master: 'virbr0', linkinfo: { info_kind: 'tun' } },
    ]),
  );
  const c = classifyBridges(links, ['docker0', 'mynet']);
  assert.deepEqual(c.container, ['br-0123456789ab', 'cni-podman0', 'docker0', 'mynet']);
  assert.deepEqual(c.lan, ['br-fedcba987654', 'br-lan', 'br0', 'virbr0']);
  assert.match(c.reasons['br-fedcba987654'] ?? '', /enp3s0/, 'a Docker-looking name with a NIC is still LAN');
  assert.match(c.reasons['br-lan'] ?? '', /no container engine reports it/);
  const noEngine = classifyBridges(links, []);
  assert.ok(noEngine.lan.includes('mynet'), 'a custom name is only known from its engine');
  assert.ok(noEngine.container.includes('docker0'), 'engine stopped: docker0 keeps its name');
});

test('firewallSpec: none without guard or exposes; lo never allowed; allowed bridges leave the LAN set; iptables names', () => {
  const d: Desired = { ...defaultDesired(), lanGuard: false };
  const classes = { container: ['docker0', 'mynet'], lan: ['br-lan', 'br0'] };
  assert.equal(firewallSpec(d, classes), null);
  assert.equal(firewallSpec(null, classes), null);
  assert.equal(defaultDesired().lanGuard, true, 'the guard is on by default');
  const s = firewallSpec({ ...defaultDesired(), allowIfaces: ['wg0', 'lo', 'br0'] }, classes, ['docker0', 'mynet']);
  assert.deepEqual(s?.allowed, ['br0', 'wg0']);
  assert.deepEqual(s?.lan, ['br-lan']);
  assert.deepEqual(s?.containerBridges, ['docker0', 'br-+', 'cni-podman+', 'podman+', 'mynet']);
});

test('docker bridge names come from Docker, not a br-* pattern', () => {
  const inspect = JSON.stringify([
    { Name: 'bridge', Id: 'aaaaaaaaaaaa1111', Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'docker0' } },
    { Name: 'compose_default', Id: 'bbbbbbbbbbbb2222', Driver: 'bridge', Options: {} },
    { Name: 'custom', Id: 'cccccccccccc3333', Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'mybr0' } },
    { Name: 'lan', Id: 'dddddddddddd4444', Driver: 'macvlan', Options: { parent: 'br-lan' } },
  ]);
  assert.deepEqual(bridgeIfaces(parseBridges(inspect)), ['br-bbbbbbbbbbbb', 'docker0', 'mybr0']);
  // `podman network ls --format '{{.NetworkInterface}} {{.Driver}}'`, Podman 4.3 (CNI) with a macvlan network.
  assert.deepEqual(parsePodmanNetworkLines('cni-podman0 bridge\ncni-podman1 bridge\neth0 macvlan\n'), ['cni-podman0', 'cni-podman1']);
});

test('parsing expose arguments; bad input is a usage error (exit 2)', () => {
  assert.deepEqual(parseExpose('5432'), { port: 5432, proto: 'tcp', to: 5432, keepSource: false });
  assert.deepEqual(parseExpose('53/UDP', { to: '5353', keepSource: true }), { port: 53, proto: 'udp', to: 5353, keepSource: true });
  for (const bad of ['0', '65536', 'abc', '80/sctp', '', '-1', '1.5']) {
    assert.throws(
      () => parsePortProto(bad, EXPOSE_EXAMPLE),
      (e: unknown) => e instanceof HostaliasError && e.code === 'usage',
      bad,
    );
  }
  assert.throws(() => parseExpose('80', { to: '99999' }), /--to port 99999 is out of range/);
  assert.throws(
    () => parseIfaceName('eth0; rm'),
    (e: unknown) => e instanceof HostaliasError && e.code === 'usage',
  );
  assert.throws(() => parseIfaceName('a-name-longer-than-15'), HostaliasError);
});

test('route_localnet: on `all` while a port is exposed, the previous value recorded and restored exactly; old per-bridge records restored', () => {
  const up = planRouteLocalnet(['all'], { all: 0 }, {});
  assert.equal(shell(up.steps), '$ sysctl -q -w net.ipv4.conf.all.route_localnet=1');
  assert.deepEqual(up.record, { all: 0 });
  assert.deepEqual(planRouteLocalnet(['all'], { all: 1 }, up.record).steps, [], 'idempotent');
  const down = planRouteLocalnet([], { all: 1 }, up.record);
  assert.equal(shell(down.steps), '$ sysctl -q -w net.ipv4.conf.all.route_localnet=0');
  assert.deepEqual(planRouteLocalnet([], { all: 1 }, { all: 1 }).steps, [], 'it was 1 before (kube-proxy): left at 1');
  const upgrade = planRouteLocalnet(['all'], { all: 0, docker0: 1, 'br-x': 1 }, { docker0: 0, 'br-x': 1 });
  assert.equal(
    shell(upgrade.steps),
    ['$ sysctl -q -w net.ipv4.conf.docker0.route_localnet=0', '$ sysctl -q -w net.ipv4.conf.all.route_localnet=1'].join('\n'),
    'an earlier per-bridge install is put back',
  );
  assert.equal(shell(planRouteLocalnet(['eth0.100'], { 'eth0.100': 0 }, {}).steps), '$ sysctl -q -w net/ipv4/conf/eth0.100/route_localnet=1');
});

test('nftables plan: fresh install, then nothing to do, then down removes everything', () => {
  const obs = observed();
  const s = spec();
  const up = planFirewall(s, 'nftables', obs);
  assert.equal(
    shell(up.steps.filter((x) => x.kind === 'run')),
    ['$ nft -f /etc/hostalias/firewall.nft', '$ sysctl -q -w net.ipv4.conf.all.route_localnet=1'].join('\n'),
    'rules (with the 127/8 hardening) load before route_localnet is turned on',
  );
  assert.deepEqual(
    up.steps.filter((x) => x.kind !== 'run').map((x) => (x.kind === 'symlink' ? `link ${x.path}` : `${x.kind} ${x.path}`)),
    [`write ${RECORD_PATH}`, `write ${NFT_FILE}`, `write ${UNITS.firewall}`, `link ${UNITS.firewallWants}`],
  );
  const load = up.steps.find((x) => x.kind === 'run' && x.argv[0] === 'nft');
  assert.deepEqual(load?.kind === 'run' ? load.undo : null, ['nft', 'delete', 'table', 'inet', 'hostalias'], 'rollback of a first load deletes the table');
  const unit = up.steps.find((x) => x.kind === 'write' && x.path === UNITS.firewall);
  assert.match(
    unit?.kind === 'write' ? unit.content : '',
    /^ExecStart=\/usr\/sbin\/nft -f \/etc\/hostalias\/firewall\.nft\nExecStart=\/usr\/sbin\/sysctl -q -w net\.ipv4\.conf\.all\.route_localnet=1\nExecStop=-\/usr\/sbin\/sysctl -q -w net\.ipv4\.conf\.all\.route_localnet=0\nExecStop=-\/usr\/sbin\/nft delete table inet hostalias$/m,
  );
  const after = applyTo(obs, up.steps, s);
  assert.deepEqual(planFirewall(s, 'nftables', after).steps, [], 'planning again after apply: no steps');

  const down = planFirewall(null, 'nftables', after);
  assert.equal(
    shell(down.steps),
    [
      `$ rm -f ${UNITS.firewallWants}`,
      `$ rm -f ${UNITS.firewall}`,
      '$ sysctl -q -w net.ipv4.conf.all.route_localnet=0',
      '$ nft delete table inet hostalias',
      `$ rm -f ${NFT_FILE}`,
      `$ rm -f ${RECORD_PATH}`,
    ].join('\n'),
  );
  assert.deepEqual(planFirewall(null, 'nftables', applyTo(after, down.steps, null)).steps, [], 'second down: nothing');
});

test('nftables plan: the last exposed port goes: route_localnet back before the hardening leaves; an old watcher unit is removed', () => {
  const s = spec();
  const obs = applyTo(
    observed({ files: { [UNITS.bridges]: 'old watcher' }, links: { [UNITS.bridgesWants]: UNITS.bridges } }),
    planFirewall(s, 'nftables', observed()).steps,
    s,
  );
  const guardOnly = spec({ exposes: [] });
  const plan = planFirewall(guardOnly, 'nftables', obs);
  assert.equal(
    shell(plan.steps.filter((x) => x.kind === 'run')),
    ['$ sysctl -q -w net.ipv4.conf.all.route_localnet=0', '$ nft -f /etc/hostalias/firewall.nft'].join('\n'),
  );
  assert.ok(
    plan.steps.some((x) => x.kind === 'remove' && x.path === UNITS.bridges),
    'the watcher unit of earlier versions goes',
  );
  assert.ok(plan.steps.some((x) => x.kind === 'remove' && x.path === UNITS.bridgesWants));
  const reload = plan.steps.find((x) => x.kind === 'run' && x.argv[0] === 'nft');
  assert.deepEqual(
    reload?.kind === 'run' ? reload.undo : null,
    { kind: 'run', argv: ['nft', '-f', '-'], input: obs.files[NFT_FILE] },
    'rollback reloads the previous ruleset from stdin',
  );
});

test('under --root the live load reads the rooted file; without systemd no units, a note instead', () => {
  const plan = planFirewall(spec(), 'nftables', observed({ rootPrefix: '/tmp/img', systemdInstalled: false }));
  assert.ok(plan.steps.some((x) => x.kind === 'run' && x.argv.join(' ') === 'nft -f /tmp/img/etc/hostalias/firewall.nft'));
  assert.ok(!plan.steps.some((x) => x.kind === 'write' && x.path.startsWith('/etc/systemd')));
  assert.match(plan.notes.map((n) => n.text).join('\n'), /not restored at boot/);
});

test("iptables: chains in iptables-save form (LAN bridges out by name, container bridges in by the engines' names), plan, idempotence, removal", () => {
  const s = spec({
    containerBridges: ['docker0', 'br-+'],
    allowed: ['wg0'],
    exposes: [
      { port: 5432, proto: 'tcp', to: 5432, keepSource: false },
      { port: 53, proto: 'udp', to: 53, keepSource: true },
    ],
  });
  const chains = iptablesChains(s);
  assert.deepEqual(
    chains.map((c) => `${c.table} ${c.hook} ${c.name}`),
    [
      'raw PREROUTING HOSTALIAS-GUARD',
      'raw PREROUTING HOSTALIAS-MARTIAN',
      'nat PREROUTING HOSTALIAS-DNAT',
      'nat OUTPUT HOSTALIAS-LOCAL',
      'nat INPUT HOSTALIAS-SNAT',
      'nat POSTROUTING HOSTALIAS-SNATLO',
      'filter INPUT HOSTALIAS-LOCALNET',
    ],
  );
  const rules = Object.fromEntries(chains.map((c) => [c.name, c.rules]));
  const d = '-d 10.254.254.254/32';
  assert.deepEqual(
    rules['HOSTALIAS-GUARD'],
    [`${d} -i lo -j RETURN`, `${d} -i wg0 -j RETURN`, `${d} -i br-lan -j DROP`, `${d} -i docker0 -j RETURN`, `${d} -i br-+ -j RETURN`, `${d} -j DROP`],
    "br-lan is turned away before br-+ lets Docker's bridges in",
  );
  assert.deepEqual(rules['HOSTALIAS-DNAT'], [
    `${d} -i wg0 -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432`,
    `${d} -i wg0 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53`,
    `${d} -i br-lan -j RETURN`,
    `${d} -i docker0 -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432`,
    `${d} -i docker0 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53`,
    `${d} -i br-+ -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432`,
    `${d} -i br-+ -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53`,
  ]);
  assert.deepEqual(
    rules['HOSTALIAS-LOCAL'],
    [`${d} -p tcp -m tcp --dport 5432 -j DNAT --to-destination 127.0.0.1:5432`, `${d} -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.1:53`],
    'the host itself',
  );
  assert.deepEqual(
    rules['HOSTALIAS-SNATLO'],
    ['-d 127.0.0.1/32 -o lo -p tcp -m conntrack --ctstate DNAT --ctorigdst 10.254.254.254 --ctorigdstport 5432 -j SNAT --to-source 127.0.0.1'],
    '--keep-source (53/udp) gets no SNAT',
  );
  assert.deepEqual(rules['HOSTALIAS-MARTIAN'], ['-s 127.0.0.0/8 ! -i lo -j DROP']);
  assert.deepEqual(rules['HOSTALIAS-LOCALNET'], ['-d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate DNAT -j DROP']);
  const plan = planIptables(s, { chains: {}, jumps: [] });
  assert.match(shell(plan), /^\$ iptables -w -t raw -N HOSTALIAS-GUARD\n/);
  assert.match(shell(plan), /\$ iptables -w -t nat -I OUTPUT 1 -j HOSTALIAS-LOCAL/);
  // What iptables-save prints after that plan ran:
  const save = [
    '*raw',
    ...chains.map((c) => `:${c.name} - [0:0]`),
    ...chains.map((c) => `-A ${c.hook} -j ${c.name}`),
    ...chains.flatMap((c) => c.rules.map((r) => `-A ${c.name} ${r}`)),
  ].join('\n');
  const obs = ourChains(parseIptablesSave(save));
  assert.deepEqual(planIptables(s, obs), [], 'idempotent against iptables-save output');
  const changed = planIptables(spec({ exposes: [], containerBridges: ['docker0'] }), obs);
  assert.match(shell(changed), /-t raw -F HOSTALIAS-GUARD\n.*-A HOSTALIAS-GUARD -d 10\.254\.254\.254\/32 -i lo -j RETURN/);
  assert.match(shell(changed), /-t nat -D PREROUTING -j HOSTALIAS-DNAT\n.*-t nat -F HOSTALIAS-DNAT\n.*-t nat -X HOSTALIAS-DNAT/);
  assert.equal(planIptables(null, obs).filter((x) => x.kind === 'run' && x.argv.includes('-X')).length, 7, 'down deletes every chain');
  const restore = renderIptablesRestore(s);
  assert.match(restore, /^\*raw\n:HOSTALIAS-GUARD - \[0:0\]\n:HOSTALIAS-MARTIAN - \[0:0\]\n-I PREROUTING 1 -j HOSTALIAS-GUARD\n/m);
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
  assert.throws(
    () => chooseFirewall('auto', { nft: false, iptables: null }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /no-lan-guard/.test(e.fix ?? ''),
  );
  assert.throws(() => chooseFirewall('nftables', { nft: false, iptables: 'legacy' }), /nft is not installed/);
});

test('a rule deleted by hand makes the live table stale, though its comment is unchanged', () => {
  // Captured with `nft list table inet hostalias` of this ruleset (--allow-iface lo2, br-lan a LAN bridge, expose 5432) loaded in a namespace.
  const listing = readFileSync(new URL('../../../test/fixtures/linux/nft-list-table-hostalias.txt', import.meta.url), 'utf8');
  const s = spec({ allowed: ['lo2'], lan: ['br-lan'] });
  assert.deepEqual(countChainRules(listing), { guard: 5, ports: 1, expose: 3, local: 1, sources: 1, source: 1, 'source-local': 1, martian: 1, localnet: 1 });
  assert.deepEqual(countChainRules(renderNftRuleset(s)), countChainRules(listing), 'our file and the nft listing count alike');
  assert.equal(liveTableCurrent(listing, s), true);
  const hardeningGone = listing
    .split('\n')
    .filter((l) => !l.includes('127.0.0.0/8'))
    .join('\n');
  assert.equal(liveTableCurrent(hardeningGone, s), false);
  const plan = planFirewall(s, 'nftables', observed({ nftListing: hardeningGone }));
  assert.match(shell(plan.steps), /\$ nft -f \/etc\/hostalias\/firewall\.nft/, 'up reloads the table');
});

test('route_localnet: at every step of every plan, the record names the original value of each interface hostalias changed', () => {
  // What a run killed after any step leaves: the next down restores only what the record names.
  const original = { all: 0, docker0: 0 };
  const recordOf = (obs: FirewallObserved) => {
    const text = obs.files[RECORD_PATH];
    return text ? (JSON.parse(text) as { routeLocalnet: Record<string, number> }).routeLocalnet : {};
  };
  const exposed = spec();
  const guardOnly = spec({ exposes: [] });
  const oldRecord = `${JSON.stringify({ backend: 'nftables', routeLocalnet: { docker0: 0 } })}\n`;
  const starts: Array<[string, FirewallObserved]> = [
    ['fresh', observed({ routeLocalnet: { ...original } })],
    [
      'an earlier version set it on docker0',
      observed({
        routeLocalnet: { all: 0, docker0: 1 },
        files: { [RECORD_PATH]: oldRecord },
        record: { backend: 'nftables', routeLocalnet: { docker0: 0 } },
      }),
    ],
  ];
  const journeys: Array<Array<FirewallSpec | null>> = [
    [exposed, guardOnly, null],
    [exposed, null],
    [guardOnly, exposed, guardOnly, exposed, null],
  ];
  for (const [name, start] of starts) {
    for (const journey of journeys) {
      let obs = start;
      for (const [n, target] of journey.entries()) {
        const plan = planFirewall(target, 'nftables', obs);
        for (let k = 0; k <= plan.steps.length; k++) {
          const at = applyTo(obs, plan.steps.slice(0, k), target);
          const record = recordOf(at);
          for (const [iface, value] of Object.entries(at.routeLocalnet)) {
            const was = original[iface as keyof typeof original];
            if (value !== was) {
              assert.equal(
                record[iface],
                was,
                `${name}, plan ${n + 1} of ${journey.length}, killed after step ${k}: route_localnet=${value} on ${iface} not recorded\n${shell(plan.steps)}`,
              );
            }
          }
        }
        obs = applyTo(obs, plan.steps, target);
        assert.deepEqual(planFirewall(target, 'nftables', obs).steps, [], `${name}: plan ${n + 1} converges`);
      }
      assert.deepEqual(obs.routeLocalnet, original, `${name}: down restores every value`);
      assert.equal(obs.files[RECORD_PATH] ?? null, null, `${name}: down drops the record`);
    }
  }
});
