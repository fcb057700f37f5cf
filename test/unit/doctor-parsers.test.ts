import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProcAddress, parseProcNet, type Listener } from '../../src/platform/linux/doctor/proc-net.js';
import { classifyListener, judgeListeners, relayHealth } from '../../src/platform/linux/doctor/check-listeners.js';
import type { ExposeSpec, ForwardSpec } from '../../src/model/config.js';
import { classifyConnect, parseProbeOutput, pickProbeImage } from '../../src/doctor/probe-script.js';
import { splitWords, walkableChains } from '../../src/platform/linux/doctor/iptables-walk.js';
import { parseIptablesSave } from '../../src/platform/linux/iptables-save.js';
import { parseNftRuleset } from '../../src/platform/linux/doctor/nft-walk.js';
import { walkChain } from '../../src/platform/linux/doctor/rule-walk.js';
import { judgeGate, judgeGates } from '../../src/platform/linux/doctor/check-firewall.js';
import { configFileOf, flagValues, gatewayFromConfig, pickDockerd } from '../../src/platform/linux/doctor/dockerd-config.js';
import { parseEngine } from '../../src/docker/engine.js';
import { parseBridges } from '../../src/docker/networks.js';
import { suggestFreeAddress } from '../../src/platform/linux/doctor/check-route-conflict.js';
import { startEngineFix } from '../../src/platform/linux/doctor/start-engine.js';
import { renderJson, renderReport, SHOWN_PER_CHECK, useColor } from '../../src/doctor/render.js';

// Real content captured in a lab namespace (socat listeners on 127.0.0.1:5432, 0.0.0.0:8080,
// 10.254.254.254:6000, [::1]:9090, [::]:3000; UDP 0.0.0.0:161, 127.0.0.1:5353, [::]:5354).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57040 1 00000000302e8680 100 0 0 10 0
   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57034 1 000000008a3c9ca8 100 0 0 10 0
   2: FEFEFE0A:1770 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57046 1 0000000061a46a9a 100 0 0 10 0
   3: 0100007F:1538 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 57099 1 0000000061a46a9a 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57043 1 00000000bd08bc21 100 0 0 10 0
   1: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57037 1 00000000b7fe6c91 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 6846: 00000000:00A1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 57262 2 000000008f8ff382 0
12038: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 57432 2 000000001a1525e7 0
12040: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 57500 2 000000001a1525e7 0
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
12039: 00000000000000000000000000000000:14EA 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 57435 2 0000000081d24c8b 0
`;

test('proc-net: decodes IPv4, IPv6 and v4-mapped addresses (little-endian words)', () => {
  assert.equal(decodeProcAddress('0100007F'), '127.0.0.1');
  assert.equal(decodeProcAddress('FEFEFE0A'), '10.254.254.254');
  assert.equal(decodeProcAddress('7F000001', false), '127.0.0.1');
  assert.equal(decodeProcAddress('00000000000000000000000001000000'), '::1');
  assert.equal(decodeProcAddress('00000000000000000000000000000000'), '::');
  assert.equal(decodeProcAddress('0000000000000000FFFF00000100007F'), '::ffff:127.0.0.1');
  assert.equal(decodeProcAddress('B80D0120000000000000000001000000'), '2001:db8::1');
});

test('proc-net: lists TCP LISTEN and unconnected UDP sockets only', () => {
  const all = [...parseProcNet(TCP, 'tcp', 4), ...parseProcNet(TCP6, 'tcp', 6), ...parseProcNet(UDP, 'udp', 4), ...parseProcNet(UDP6, 'udp', 6)];
  assert.deepEqual(
    all.map((l) => `${l.proto} ${l.address} ${l.port} ${l.inode}`),
    [
      'tcp 0.0.0.0 8080 57040',
      'tcp 127.0.0.1 5432 57034',
      'tcp 10.254.254.254 6000 57046',
      'tcp ::1 9090 57043',
      'tcp :: 3000 57037',
      'udp 0.0.0.0 161 57262',
      'udp 127.0.0.1 5353 57432',
      'udp :: 5354 57435',
    ],
  );
});

test('listeners: reachable via the alias, exposed, loopback-only, other address', () => {
  const all = [...parseProcNet(TCP, 'tcp', 4), ...parseProcNet(TCP6, 'tcp', 6), ...parseProcNet(UDP, 'udp', 4)];
  const exposes = [{ port: 5353, proto: 'udp' as const, to: 5353, keepSource: false }];
  const setup = { ip: '10.254.254.254', exposes, forwards: [] };
  const got = judgeListeners(all, setup).map((p) => `${p.proto}/${p.port} ${p.reach}`);
  assert.deepEqual(got, [
    'tcp/3000 yes',
    'tcp/5432 loopback-only',
    'tcp/6000 yes',
    'tcp/8080 yes',
    'tcp/9090 loopback-only',
    'udp/161 yes',
    'udp/5353 exposed',
  ]);
  assert.equal(
    classifyListener({ proto: 'tcp', family: 4, address: '192.0.2.10', port: 80, inode: 1, uid: 0 }, { ip: '10.254.254.254', exposes: [], forwards: [] }),
    'other-address',
  );
  // A port served on both 127.0.0.1 and 0.0.0.0 counts as reachable.
  const both = judgeListeners([...parseProcNet(TCP, 'tcp', 4), { proto: 'tcp', family: 4, address: '0.0.0.0', port: 5432, inode: 9, uid: 0 }], {
    ip: '10.254.254.254',
    exposes: [],
    forwards: [],
  });
  assert.equal(both.find((p) => p.port === 5432)?.reach, 'yes');
});

test('listeners: a ::1-only service is reachable only when a running relay serves it', () => {
  const ip = '10.254.254.254';
  const v6 = { proto: 'tcp' as const, family: 6 as const, address: '::1', port: 5173, inode: 1, uid: 0 };
  const v4 = { ...v6, family: 4 as const, address: '127.0.0.1', inode: 3 };
  const relaySock = { ...v6, family: 4 as const, address: ip, inode: 2 };
  const kernel: ExposeSpec = { port: 5173, proto: 'tcp', to: 5173, keepSource: false, via: 'kernel' };
  const relay: ExposeSpec = { ...kernel, via: 'relay' };
  const verdict = (ls: Listener[], setup: { exposes: ExposeSpec[]; forwards: ForwardSpec[] }) =>
    judgeListeners(ls, { ip, ...setup }).map((p) => `${p.port} ${p.reach}`);
  assert.deepEqual(verdict([v6], { exposes: [], forwards: [] }), ['5173 loopback-only'], 'before expose');
  assert.deepEqual(verdict([v6], { exposes: [kernel], forwards: [] }), ['5173 family-mismatch'], 'kernel rules never reach ::1');
  assert.deepEqual(verdict([v4], { exposes: [kernel], forwards: [] }), ['5173 exposed'], 'negative control: 127.0.0.1 is reached by the kernel path');
  assert.deepEqual(
    verdict([v6, relaySock], { exposes: [relay], forwards: [] }),
    ['5173 relayed'],
    'relay listening: its own socket is not listed as a service',
  );
  assert.deepEqual(verdict([v6], { exposes: [relay], forwards: [] }), ['5173 relay-down'], 'relay not listening');
  assert.deepEqual(
    verdict([v6, relaySock], { exposes: [], forwards: [{ port: 5173, proto: 'tcp', targets: [] }] }),
    ['5173 relayed'],
    'forward --install counts too',
  );
  assert.deepEqual(
    verdict([v6, { ...relaySock, port: 8080 }], { exposes: [], forwards: [{ port: 8080, proto: 'tcp', targets: ['[::1]:5173'] }] }),
    ['5173 relayed'],
    'a relay to another port',
  );
  const health = relayHealth([relaySock], { ip, exposes: [relay], forwards: [] });
  assert.deepEqual(
    health.map((h) => [h.up, h.served]),
    [[true, false]],
    'a relay with nothing behind it yet',
  );
});

test('probe: parses the container report and tells refused from timed out', () => {
  const out = parseProbeOutput(
    [
      'R local_host 10.254.254.254',
      'R nope -',
      'C local_host 8080 0 ',
      "C local_host 8081 1 nc: can't connect to remote host (10.254.254.254): Connection refused ",
      'C local_host 8082 1 nc: timed out ',
      'C local_host 8083 143 ',
      "C local_host 8084 1 nc: can't connect to remote host (10.254.254.254): No route to host",
      'D',
    ].join('\n'),
  );
  assert.deepEqual(out.resolved, [
    { name: 'local_host', address: '10.254.254.254' },
    { name: 'nope', address: null },
  ]);
  assert.deepEqual(
    out.connections.map((c) => `${c.port} ${c.result}`),
    ['8080 connected', '8081 refused', '8082 timeout', '8083 connected', '8084 unreachable'],
  );
  assert.equal(out.complete, true);
  assert.equal(parseProbeOutput('E nc-missing\nR a 1.2.3.4\n').complete, false);
  assert.equal(classifyConnect(1, 'nc: connect to 10.254.254.254 port 1 (tcp) failed: Connection refused'), 'refused');
  assert.equal(classifyConnect(2, 'weird'), 'error');
});

test('probe: picks a local busybox, then alpine, never a dangling image', () => {
  assert.equal(pickProbeImage('postgres:16\n<none>:<none>\nalpine:3.20\nhostalias-busybox:test\n'), 'hostalias-busybox:test');
  assert.equal(pickProbeImage('postgres:16\nlibrary/alpine:3.20\n'), 'library/alpine:3.20');
  assert.equal(pickProbeImage('postgres:16\n'), null);
});

// iptables -S as a Docker host with one hand-made DROP shows it.
const IPT = `-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-N MYCHAIN
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 5433 -j DROP
-A INPUT -s 192.0.2.0/24 -j DROP
-A INPUT -i docker0 -m comment --comment "no containers" -j MYCHAIN
-A MYCHAIN -d 10.254.254.254/32 -j REJECT --reject-with icmp-port-unreachable
-A FORWARD -j DOCKER-USER
`;

test('iptables: a DROP for docker0 is found with the exact delete command; ports and unknown conditions are partial', () => {
  assert.deepEqual(splitWords('-A INPUT -m comment --comment "a b" -j DROP'), ['-A', 'INPUT', '-m', 'comment', '--comment', 'a b', '-j', 'DROP']);
  const chains = walkableChains(parseIptablesSave(IPT));
  const res = walkChain(chains, 'INPUT', { iface: 'docker0', dst: '10.254.254.254', proto: 'tcp', port: null });
  assert.equal(res.verdict, 'drop');
  const f = judgeGate('iptables INPUT', 'docker0', '10.254.254.254', res, 'unused');
  assert.deepEqual(
    f.map((x) => `${x.status} ${x.fix}`),
    [
      `fail sudo iptables -D MYCHAIN -d 10.254.254.254/32 -j REJECT --reject-with icmp-port-unreachable`,
      'warn sudo iptables -D INPUT -p tcp -m tcp --dport 5433 -j DROP  # if containers should reach it',
      'warn sudo iptables -D INPUT -s 192.0.2.0/24 -j DROP  # if containers should reach it',
    ],
  );
  // Another bridge passes INPUT (policy ACCEPT) with the same partial drops; a specific port decides.
  assert.equal(walkChain(chains, 'INPUT', { iface: 'br-1', dst: '10.254.254.254', proto: 'tcp', port: null }).verdict, 'accept');
  assert.equal(walkChain(chains, 'INPUT', { iface: 'br-1', dst: '10.254.254.254', proto: 'tcp', port: 5433 }).verdict, 'drop');
  assert.equal(walkChain(chains, 'INPUT', { iface: 'br-1', dst: '10.254.254.254', proto: 'tcp', port: 5432 }).verdict, 'accept');
});

test('iptables: policy DROP without an accept for the bridge fails with an insert-accept fix', () => {
  const chains = walkableChains(parseIptablesSave('-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n-A INPUT -i br-+ -j ACCEPT\n'));
  const docker0 = walkChain(chains, 'INPUT', { iface: 'docker0', dst: '10.254.254.254', proto: 'tcp', port: null });
  assert.deepEqual(
    judgeGate('iptables INPUT', 'docker0', '10.254.254.254', docker0, 'sudo iptables -I INPUT -i docker0 -d 10.254.254.254 -j ACCEPT').map((f) => f.status),
    ['fail'],
  );
  assert.equal(walkChain(chains, 'INPUT', { iface: 'br-abc', dst: '10.254.254.254', proto: 'tcp', port: null }).verdict, 'accept');
});

// `nft -j list ruleset` captured in a lab namespace: an iptables-nft rule plus a native inet table.
const NFT =
  '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "filter", "handle": 1}}, {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "docker0"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}, {"table": {"family": "inet", "name": "filter", "handle": 2}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-*"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.254.254.254"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["lo", "docker0"]}}}, {"accept": null}]}}]}';

test('nft: native input chains are walked (iptables-nft tables skipped); rules get a delete-by-handle fix', () => {
  const parsed = parseNftRuleset(NFT);
  assert.deepEqual(
    parsed.bases.map((b) => b.label),
    ['inet filter input'],
  );
  assert.deepEqual(parsed.tables, ['ip filter', 'inet filter']);
  const gate = parsed.bases[0];
  assert.ok(gate);
  assert.equal(walkChain(gate.chains, gate.base, { iface: 'docker0', dst: '10.254.254.254', proto: 'tcp', port: null }).verdict, 'accept');
  const br = walkChain(gate.chains, gate.base, { iface: 'br-x', dst: '10.254.254.254', proto: 'tcp', port: null });
  assert.equal(br.verdict, 'drop');
  const f = judgeGate(
    'nft inet filter input',
    'br-x',
    '10.254.254.254',
    br,
    'sudo nft insert rule inet filter input iifname "br-x" ip daddr 10.254.254.254 accept',
  );
  assert.deepEqual(
    f.map((x) => `${x.status} ${x.fix}`),
    [
      'fail sudo nft insert rule inet filter input iifname "br-x" ip daddr 10.254.254.254 accept',
      'warn sudo nft delete rule inet filter input handle 3  # if containers should reach it',
    ],
  );
  const port = walkChain(gate.chains, gate.base, { iface: 'br-x', dst: '10.254.254.254', proto: 'tcp', port: 5432 });
  assert.equal(port.verdict === 'drop' && port.rule?.deleteFix, 'sudo nft delete rule inet filter input handle 3');
});

test('dockerd config: the daemon serving DOCKER_HOST, its config file and host-gateway', () => {
  const procs = [
    { pid: 10, argv: ['/usr/sbin/dockerd', '-H', 'fd://', '--containerd=/run/containerd/containerd.sock'] },
    { pid: 20, argv: ['dockerd', '--data-root', '/tmp/hal-x/data', '-H', 'unix:///tmp/hal-x/docker.sock', '--config-file', '/tmp/hal-x/daemon.json'] },
  ];
  assert.equal(pickDockerd(procs, undefined)?.pid, 10);
  assert.equal(pickDockerd(procs, 'unix:///tmp/hal-x/docker.sock')?.pid, 20);
  assert.equal(pickDockerd(procs, 'tcp://192.0.2.1:2376'), null);
  assert.deepEqual(flagValues(['--host-gateway-ip=10.1.1.1', '--host-gateway-ip', '10.2.2.2'], '--host-gateway-ip'), ['10.1.1.1', '10.2.2.2']);
  assert.equal(configFileOf(procs[1]?.argv ?? []), '/tmp/hal-x/daemon.json');
  assert.equal(configFileOf([]), '/etc/docker/daemon.json');
  assert.deepEqual(gatewayFromConfig([], '{"host-gateway-ip": "10.254.254.254"}', '/x.json'), {
    addresses: ['10.254.254.254'],
    source: '"host-gateway-ip" in /x.json',
  });
  assert.deepEqual(gatewayFromConfig([], '{"host-gateway-ips": ["10.254.254.254", "fd00::1"]}', '/x.json').addresses, ['10.254.254.254', 'fd00::1']);
  assert.deepEqual(gatewayFromConfig(['--host-gateway-ip', '10.9.9.9'], '{"host-gateway-ip": "10.254.254.254"}', '/x.json').addresses, ['10.9.9.9']);
  assert.deepEqual(gatewayFromConfig([], null, '/x.json'), { addresses: [], source: 'no /x.json' });
});

test('docker engine: version, rootless, Desktop and bridges from the CLI JSON', () => {
  const e = parseEngine({
    version: '{"Client":{"Version":"28.0.1"},"Server":{"Version":"20.10.24+dfsg1","Platform":{"Name":""}}}',
    info: '{"OperatingSystem":"Debian GNU/Linux 12 (bookworm)","SecurityOptions":["name=seccomp,profile=default","name=rootless"]}',
    context: 'default',
  });
  assert.deepEqual(e, {
    serverVersion: '20.10.24+dfsg1',
    clientVersion: '28.0.1',
    os: 'Debian GNU/Linux 12 (bookworm)',
    rootless: true,
    flavour: 'engine',
    flavourReason: 'docker info reports "Debian GNU/Linux 12 (bookworm)"',
  });
  assert.equal(
    parseEngine({ version: '{"Server":{"Version":"27.4.0","Platform":{"Name":"Docker Desktop 4.37.1 (178610)"}}}', info: '{}', context: '' }).flavour,
    'desktop',
  );
  const b = parseBridges(
    '[{"Name":"bridge","Id":"aaa","Driver":"bridge","Options":{"com.docker.network.bridge.name":"docker0"},"IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}},{"Name":"labnet","Id":"0123456789abcdef","Driver":"bridge","Options":{},"IPAM":{"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]}},{"Name":"host","Driver":"host"}]',
  );
  assert.deepEqual(b, [
    { name: 'bridge', iface: 'docker0', subnets: ['172.17.0.0/16'], gateways: [] },
    { name: 'labnet', iface: 'br-0123456789ab', subnets: ['172.18.0.0/16'], gateways: ['172.18.0.1'] },
  ]);
});

test('docker: the fix that starts the engine DOCKER_HOST names', () => {
  assert.equal(startEngineFix(undefined, true, 0), 'sudo systemctl start docker');
  assert.equal(startEngineFix('unix:///var/run/docker.sock', false, 0), 'sudo service docker start');
  assert.equal(startEngineFix('unix:///run/user/1000/docker.sock', true, 1000), 'systemctl --user start docker');
  assert.match(startEngineFix('unix:///tmp/hal-x/docker.sock', true, 0), /^sudo dockerd -H unix:\/\/\/tmp\/hal-x\/docker.sock/);
});

test('route-conflict: suggests the first candidate no subnet or route covers', () => {
  const addrs = [{ ifname: 'eth0', family: 'inet' as const, local: '10.254.0.1', prefixlen: 16 }];
  assert.equal(suggestFreeAddress('10.254.254.254', addrs, []), '10.253.253.253');
  assert.equal(suggestFreeAddress('10.254.254.254', addrs, [{ dst: '10.0.0.0/8', dev: 'tun0' }]), '172.29.254.254');
  assert.equal(suggestFreeAddress('10.254.254.254', [], [{ dst: 'default', gateway: '192.0.2.1' }]), '10.253.253.253');
});

test('render: grouped report with fixes, colour only when asked, JSON with null fixes', () => {
  const findings = [
    { id: 'alias', status: 'ok' as const, message: 'on lo' },
    { id: 'firewall', status: 'fail' as const, message: 'drop', fix: 'sudo iptables -D INPUT -i docker0 -j DROP' },
    { id: 'firewall', status: 'warn' as const, message: 'maybe', fix: 'x' },
  ];
  const text = renderReport(findings, { color: false });
  assert.equal(
    text,
    [
      '✓ alias',
      '    ✓ on lo',
      '✗ firewall',
      '    ✗ drop',
      '      fix: sudo iptables -D INPUT -i docker0 -j DROP',
      '    ! maybe',
      '      fix: x',
      '',
      '1 failed, 1 warning, 1 ok',
    ].join('\n'),
  );
  assert.ok(!text.includes('\x1b['));
  assert.ok(renderReport(findings, { color: true }).includes('\x1b[31m'));
  assert.equal(useColor(true, {}), true);
  assert.equal(useColor(true, { NO_COLOR: '1' }), false);
  assert.equal(useColor(false, {}), false);
  assert.deepEqual(JSON.parse(renderJson(findings)).findings[0], { id: 'alias', status: 'ok', message: 'on lo', fix: null });
});

test("render: past the cap a check's findings are counted, not listed; failures come first; output stays bounded", () => {
  const many = (n: number) => [
    { id: 'alias', status: 'ok' as const, message: 'on lo' },
    ...Array.from({ length: n }, (_, i) => ({ id: 'firewall', status: 'warn' as const, message: `rule ${i} may drop`, fix: `sudo iptables -D INPUT ${i}` })),
    { id: 'firewall', status: 'fail' as const, message: 'the real problem', fix: 'sudo iptables -D INPUT -j DROP' },
  ];
  const text = renderReport(many(5000), { color: false });
  assert.ok(text.includes('    ✗ the real problem'), 'the failure is shown even though it came last');
  assert.ok(text.includes(`… ${5001 - SHOWN_PER_CHECK} more (0 failed, ${5001 - SHOWN_PER_CHECK} warnings, 0 ok): hostalias doctor --json lists them all`));
  assert.ok(text.endsWith('1 failed, 5000 warnings, 1 ok'));
  assert.equal(text.split('\n').length, renderReport(many(500), { color: false }).split('\n').length, 'same length for 500 and 5,000 findings');
});

test('firewall findings: one per rule naming the bridges it hits, not one per rule and bridge', () => {
  const rules = Array.from({ length: 50 }, (_, i) => `-A INPUT -p tcp -m multiport --dports ${1000 + i},${2000 + i} -j DROP`).join('\n');
  const chains = walkableChains(parseIptablesSave(`*filter\n:INPUT ACCEPT [0:0]\n${rules}\nCOMMIT\n`));
  const bridges = Array.from({ length: 40 }, (_, i) => `br-${String(i).padStart(12, '0')}`);
  const results = bridges.map((iface) => [iface, walkChain(chains, 'INPUT', { iface, dst: '10.254.254.254', proto: 'tcp', port: null })] as const);
  const findings = judgeGates('iptables INPUT', results, '10.254.254.254', () => 'unused');
  assert.equal(findings.length, 50);
  assert.match(findings[0]?.message ?? '', /br-000000000000, .* and 34 more to 10\.254\.254\.254 on some ports/);
});
