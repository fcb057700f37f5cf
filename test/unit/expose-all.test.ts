/**
 * `expose --all` as data: the ports it keeps out, its nftables rules (one rule for every port, the
 * source rewrite), how what listens is reported and judged by doctor, the refusal of a `forward` it
 * would starve, and its refusal on macOS. Pure functions and FakeMac only; the rules in a real
 * kernel are test/e2e/expose-all.test.ts's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultDesired, type Desired } from '../../src/model/config.js';
import { keptOut, keptOutWhy, loopbackSets, parseExceptPorts, refuseForwardConflicts, reportExposeAll, withExposeAll } from '../../src/model/expose.js';
import type { HostaliasError } from '../../src/model/errors.js';
import { StateSchema } from '../../src/model/state-schema.js';
import { liveTableCurrent, relaySetUpdate, renderNftRuleset } from '../../src/platform/linux/firewall/nft-ruleset.js';
import { planForwardServices, SERVE_UNIT, serveUnit } from '../../src/platform/linux/forward-units.js';
import { planFirewall, type FirewallObserved } from '../../src/platform/linux/firewall/plan.js';
import { firewallSpec } from '../../src/platform/linux/firewall/spec.js';
import * as v from 'valibot';

const IP = '10.254.254.254';
const base = (over: Partial<Desired> = {}): Desired => ({ ...defaultDesired(), ...over });
const bridges = { lan: [], container: ['docker0'] };

test('--except: comma lists, repeated, sorted without repeats; a bad port is a usage error naming the fix', () => {
  assert.deepEqual(parseExceptPorts(['9000,8080', '80', '8080']), [80, 8080, 9000]);
  assert.deepEqual(parseExceptPorts([]), []);
  assert.throws(
    () => parseExceptPorts(['8080,70000']),
    (e: HostaliasError) => e.code === 'usage' && /out of range/.test(e.message) && /--except 8080,9000/.test(e.fix ?? ''),
  );
});

test("kept out: the Docker/Podman API ports, --except, and the ports hostalias's own relays and resolver listen on at the alias", () => {
  const d = withExposeAll(
    base({
      forwards: [
        { port: 7000, proto: 'tcp', targets: [] },
        { port: 7001, proto: 'tcp', targets: [], listen: '127.0.0.3' },
      ],
      exposes: [
        { port: 5173, proto: 'tcp', to: 5173, keepSource: false, via: 'relay' },
        { port: 5432, proto: 'tcp', to: 5433, keepSource: false, via: 'kernel' },
      ],
    }),
    { except: [8080] },
  );
  assert.deepEqual(keptOut(d), [2375, 2376, 5173, 7000, 8080], 'a relay listening elsewhere than the alias (7001) is not in the way');
  assert.deepEqual(keptOut({ ...d, dns: true }), [53, 2375, 2376, 5173, 7000, 8080], "up --dns: the resolver's ALIAS:53 is not rewritten to 127.0.0.1");
  assert.equal(keptOutWhy({ ...d, dns: true }, 53), "hostalias's resolver (up --dns) listens on the alias there");
  assert.equal(keptOutWhy(d, 7000), "hostalias's own relay listens on the alias there");
  assert.equal(withExposeAll(d, null).exposeAll, undefined, 'off: the key is gone (an older state compares equal)');
});

test('nftables: one rule carries every port, after the ports exposed one by one; the source is 127.0.0.1 but for --keep-source', () => {
  const d = withExposeAll(
    base({
      exposes: [
        { port: 5432, proto: 'tcp', to: 5433, keepSource: false, via: 'kernel' },
        { port: 6000, proto: 'tcp', to: 6000, keepSource: true, via: 'kernel' },
      ],
    }),
    { except: [8080] },
  );
  const s = firewallSpec(d, bridges);
  assert.ok(s?.all);
  const text = renderNftRuleset(s);
  const ports = text.slice(text.indexOf('chain ports {'), text.indexOf('\n\t}', text.indexOf('chain ports {')));
  assert.deepEqual(
    ports
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter(Boolean),
    [
      `ip daddr ${IP} tcp dport 5432 dnat ip to 127.0.0.1:5433`,
      `ip daddr ${IP} tcp dport 6000 dnat ip to 127.0.0.1:6000`,
      `ip daddr ${IP} meta l4proto . th dport @direct return`,
      `ip daddr ${IP} tcp dport @relay_tcp dnat ip to 127.0.0.1:1022`,
      `ip daddr ${IP} meta l4proto { tcp, udp } th dport != { 2375, 2376, 8080 } dnat ip to 127.0.0.1`,
    ],
  );
  const sources = text.slice(text.indexOf('chain sources {'), text.indexOf('\n\t}', text.indexOf('chain sources {')));
  assert.match(sources, /proto-dst 6000 return\n\t\tct status dnat ct original ip daddr 10\.254\.254\.254 snat ip to 127\.0\.0\.1/);
  assert.ok(liveTableCurrent(text, s), 'the table as written is current');
});

test('planFirewall: --all alone turns route_localnet on and loads the table; without it (and without exposes) route_localnet goes back', () => {
  const obs: FirewallObserved = {
    nftListing: null,
    iptables: null,
    routeLocalnet: { all: 0 },
    record: null,
    files: {},
    links: {},
    paths: { nft: '/usr/sbin/nft', iptablesRestore: '/usr/sbin/iptables-restore', sysctl: '/usr/sbin/sysctl' },
    systemdInstalled: false,
    systemdRunning: false,
    rootPrefix: '',
  };
  const on = planFirewall(firewallSpec(withExposeAll(base(), { except: [] }), bridges), 'nftables', obs);
  const argv = on.steps.flatMap((st) => (st.kind === 'run' ? [st.argv.join(' ')] : []));
  assert.deepEqual(argv, ['nft -f /etc/hostalias/firewall.nft', 'sysctl -q -w net.ipv4.conf.all.route_localnet=1']);
  const off = planFirewall(firewallSpec(base(), bridges), 'nftables', {
    ...obs,
    routeLocalnet: { all: 1 },
    record: { backend: 'nftables', routeLocalnet: { all: 0 } },
  });
  assert.ok(off.steps.some((st) => st.kind === 'run' && st.argv.join(' ') === 'sysctl -q -w net.ipv4.conf.all.route_localnet=0'));
});

test('what listens, as expose --all reports it: kernel rules, ::1-only services not reached (TCP and UDP), kept out', () => {
  const d = withExposeAll(base(), { except: [9000] });
  const report = reportExposeAll(d, [
    { proto: 'tcp', address: '127.0.0.1', port: 5432 },
    { proto: 'tcp', address: '::', port: 8000 },
    { proto: 'tcp', address: '::1', port: 5173 },
    { proto: 'tcp', address: '::1', port: 3000 },
    { proto: 'tcp', address: '127.0.0.1', port: 3000 },
    { proto: 'udp', address: '::1', port: 5353 },
    { proto: 'udp', address: '127.0.0.1', port: 5354 },
    { proto: 'tcp', address: '127.0.0.1', port: 2375 },
    { proto: 'tcp', address: '::1', port: 9000 },
    { proto: 'tcp', address: IP, port: 7000 },
  ]);
  assert.deepEqual(report, {
    kernel: [
      { proto: 'tcp', port: 3000, on: '127.0.0.1' },
      { proto: 'tcp', port: 5432, on: '127.0.0.1' },
      { proto: 'tcp', port: 8000, on: '::' },
      { proto: 'udp', port: 5354, on: '127.0.0.1' },
    ],
    relayed: [],
    unreached: [
      { proto: 'tcp', port: 5173 },
      { proto: 'udp', port: 5353 },
    ],
    keptOut: [
      { proto: 'tcp', port: 2375, why: 'the Docker/Podman API without TLS: root on this host' },
      { proto: 'tcp', port: 9000, why: '--except' },
    ],
  });
});

test('forward on a port --all covers is refused, naming the --except that frees it; a kept-out port or another listen address is not', () => {
  const d = withExposeAll(base(), { except: [8080] });
  assert.throws(
    () => refuseForwardConflicts(d, 5432, 'tcp', IP, false),
    (e: HostaliasError) => e.code === 'conflict' && /covered by `expose --all`/.test(e.message) && /expose --all --except 5432,8080/.test(e.fix ?? ''),
  );
  assert.doesNotThrow(() => refuseForwardConflicts(d, 8080, 'tcp', IP, false));
  assert.doesNotThrow(() => refuseForwardConflicts(d, 2375, 'tcp', IP, false));
  assert.doesNotThrow(() => refuseForwardConflicts(d, 5432, 'tcp', '127.0.0.3', false));
});

test('state.json keeps --all and its --except list; a bad port in it is refused', () => {
  const state = { version: 1, desired: withExposeAll(base(), { except: [8080] }), persistence: null, updatedAt: 'now' };
  const ok = v.safeParse(StateSchema, JSON.parse(JSON.stringify(state)));
  assert.ok(ok.success);
  assert.deepEqual(ok.output.desired.exposeAll, { except: [8080] });
  const bad = v.safeParse(StateSchema, { ...state, desired: { ...state.desired, exposeAll: { except: [0] } } });
  assert.equal(bad.success, false);
});

test('with the loopback relay running, ::1-only TCP services are relayed; UDP ones and the relay socket itself are not', () => {
  const d = withExposeAll(base(), { except: [] });
  const report = reportExposeAll(
    d,
    [
      { proto: 'tcp', address: '::1', port: 5173 },
      { proto: 'udp', address: '::1', port: 5353 },
      { proto: 'tcp', address: '127.0.0.1', port: 1022 },
    ],
    true,
  );
  assert.deepEqual(report.relayed, [5173]);
  assert.deepEqual(report.unreached, [{ proto: 'udp', port: 5353 }]);
  assert.deepEqual(report.kernel, []);
});

test('loopbackSets: ::1-only TCP ports not kept out go to the relay set; sockets on the alias go to the direct set', () => {
  const sets = loopbackSets(
    [
      { proto: 'tcp', address: '::1', port: 5173 },
      { proto: 'tcp', address: '::1', port: 3000 },
      { proto: 'tcp', address: '127.0.0.1', port: 3000 },
      { proto: 'tcp', address: '::1', port: 2375 },
      { proto: 'udp', address: '::1', port: 5353 },
      { proto: 'tcp', address: '::1', port: 1022 },
      { proto: 'udp', address: IP, port: 53 },
      { proto: 'tcp', address: `::ffff:${IP}`, port: 7000 },
    ],
    IP,
    [2375, 2376],
    1022,
  );
  assert.deepEqual(sets, {
    relayed: [5173],
    direct: [
      { proto: 'tcp', port: 7000 },
      { proto: 'udp', port: 53 },
    ],
  });
  assert.equal(
    relaySetUpdate(sets.relayed, sets.direct),
    'flush set inet hostalias relay_tcp\nflush set inet hostalias direct\nadd element inet hostalias relay_tcp { 5173 }\nadd element inet hostalias direct { tcp . 7000, udp . 53 }\n',
  );
  assert.equal(relaySetUpdate([], []), 'flush set inet hostalias relay_tcp\nflush set inet hostalias direct\n');
});

test('hostalias-serve.service: written, enabled and started with expose --all, restarted whatever ends it; removed without it', () => {
  const rt = { nodePath: '/var/lib/hostalias/runtime/current/node', cliPath: '/var/lib/hostalias/runtime/current/main.js' };
  const unit = serveUnit(IP, [2375, 2376], rt);
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, new RegExp(`^ExecStart=${rt.nodePath} ${rt.cliPath} serve --ip ${IP.replace(/\./g, '\\.')} --kept-out 2375,2376$`, 'm'));
  const none = { units: {}, wants: {}, systemdRunning: true };
  const on = planForwardServices({ ip: IP, forwards: [], loopback: { keptOut: [2375, 2376] } }, none, rt);
  assert.deepEqual(
    on.steps.map((st) => (st.kind === 'run' ? st.argv.join(' ') : `${st.kind} ${st.path}`)),
    [
      `write /etc/systemd/system/${SERVE_UNIT}`,
      `symlink /etc/systemd/system/multi-user.target.wants/${SERVE_UNIT}`,
      'systemctl daemon-reload',
      `systemctl restart ${SERVE_UNIT}`,
    ],
  );
  const installed = { units: { [SERVE_UNIT]: unit }, wants: { [SERVE_UNIT]: `/etc/systemd/system/${SERVE_UNIT}` }, systemdRunning: true };
  assert.deepEqual(planForwardServices({ ip: IP, forwards: [], loopback: { keptOut: [2375, 2376] } }, installed, rt).steps, [], 'converged');
  const off = planForwardServices({ ip: IP, forwards: [], loopback: null }, installed, rt);
  assert.deepEqual(
    off.steps.map((st) => (st.kind === 'run' ? st.argv.join(' ') : `${st.kind} ${st.path}`)),
    [
      `systemctl stop ${SERVE_UNIT}`,
      `remove /etc/systemd/system/multi-user.target.wants/${SERVE_UNIT}`,
      `remove /etc/systemd/system/${SERVE_UNIT}`,
      'systemctl daemon-reload',
    ],
  );
});
