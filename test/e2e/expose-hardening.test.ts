/**
 * The CVE-2020-8558 hardening of `expose`, against the real kernel: once a port is exposed,
 * route_localnet=1 on a trusted interface would let a neighbour on it send packets addressed to
 * 127.0.0.1 straight to *every* 127.0.0.1-only service. hostalias' localnet rule drops packets for
 * 127.0.0.0/8 arriving on a non-lo interface unless conntrack says they were DNATed.
 *
 * No dockerd: the "container" is a namespace joined to the "host" namespace by a veth whose host
 * end is trusted with `up --allow-iface`. The container sends to 127.0.0.1 through the veth
 * (its own route_localnet and a policy rule ahead of the local table make the kernel let it
 * out). Each backend is checked three ways: the exposed port still answers through the alias,
 * an unexposed 127.0.0.1 service gets nothing (TCP and UDP), and — the control — with only the
 * hardening rule deleted the same packets do reach it.
 *
 * SAFETY: addresses are 198.51.100.0/24 (TEST-NET-2), 127.0.0.1 and the alias, only inside the
 * two namespaces this file creates; the CLI runs with --files-root in a temp dir and a DOCKER_HOST that
 * does not exist, so it never talks to a Docker outside the lab.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { onLines, sleep } from '../lab/exec.js';
import { linkNetns, runCli, startReplyServer, tcpRequest, withNetns, type Netns, type ReplyServer } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';
import { ALIAS, eventually, ok } from './expose-lab.js';

const HOST_IP = '198.51.100.1';
const CTR_IP = '198.51.100.2';
/** No Docker in this lab: a socket path that cannot exist keeps the CLI from finding any dockerd. */
const ENV = { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-hardening/docker.sock' };

interface UdpRecorder {
  port: number;
  /** Payloads received, in order. */
  readonly received: string[];
  /** `payload@source-address` of each datagram. */
  readonly from: string[];
}

const UDP_RECORDER_JS = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => process.stdout.write(JSON.stringify({ got: String(m), from: r.address }) + '\\n'));
s.bind(0, process.argv[1], () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/** A UDP server on `host` (default 127.0.0.1) in `ns` that records every datagram it receives (never replies). */
async function startUdpRecorder(ns: Netns, host = '127.0.0.1'): Promise<UdpRecorder> {
  const child = ns.spawn([process.execPath, '-e', UDP_RECORDER_JS, '--', host]);
  const received: string[] = [];
  const from: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('udp recorder did not start')), 10_000);
    onLines(child.stdout, (line) => {
      const msg = JSON.parse(line) as { port?: number; got?: string; from?: string };
      if (msg.port !== undefined) {
        clearTimeout(timer);
        resolve(msg.port);
      }
      if (msg.got !== undefined) {
        received.push(msg.got);
        from.push(`${msg.got}@${msg.from ?? '?'}`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`udp recorder exited (${code})`));
    });
  });
  return { port, received, from };
}

/**
 * Sends datagrams `tag` from `ns` with the *source* 127.0.0.2 to `host:port` through the veth: a
 * spoofed loopback source, which the kernel calls a martian only while route_localnet is 0.
 * (127.0.0.1 itself is refused by the kernel anyway, as an address of the receiving host.)
 */
async function sendFromLoopback(ns: Netns, host: string, port: number, tag: string, count = 5): Promise<void> {
  const js = `
const s = require('node:dgram').createSocket('udp4');
let left = ${count};
s.bind(0, '127.0.0.2', () => {
  const next = () => { if (left-- === 0) return s.close(); s.send(process.argv[1], ${port}, '${host}', (e) => { if (e) { console.error(e); process.exit(1); } setTimeout(next, 20); }); };
  next();
});`;
  await ns.exec([process.execPath, '-e', js, '--', tag], { timeoutMs: 10_000 });
}

/** Sends `count` datagrams `tag` from `ns` to 127.0.0.1:port (the route makes them leave by the veth). */
async function sendUdp(ns: Netns, port: number, tag: string, count = 5): Promise<void> {
  const js = `
const s = require('node:dgram').createSocket('udp4');
let left = ${count};
const next = () => { if (left-- === 0) return s.close(); s.send(process.argv[1], ${port}, '127.0.0.1', (e) => { if (e) { console.error(e); process.exit(1); } setTimeout(next, 20); }); };
next();`;
  await ns.exec([process.execPath, '-e', js, '--', tag], { timeoutMs: 10_000 });
}

interface HardeningLab {
  host: Netns;
  ctr: Netns;
  hostIf: string;
  root: string;
  exposed: ReplyServer;
  hidden: ReplyServer;
  udp: UdpRecorder;
  /** A UDP recorder on 0.0.0.0: what a spoofed 127.0.0.1 source reaches. */
  anyUdp: UdpRecorder;
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function startHardeningLab(t: TestContext, tag: string): Promise<HardeningLab> {
  const host = await withNetns(t, `${tag}h`);
  const ctr = await withNetns(t, `${tag}c`);
  const root = await tempRoot(t, tag);
  const link = await linkNetns(host, ctr, `${HOST_IP}/24`, `${CTR_IP}/24`);
  // Container side: send 127.0.0.1 out through the veth to the host, like an attacker on a
  // container bridge would. Linux refuses 127/8 on a non-lo device unless route_localnet is set
  // on it, and the local table (rule 0) would answer 127.0.0.1 itself: a policy rule ahead of it
  // sends 127.0.0.1 to table 100, and the local table moves to rule 1000.
  await ctr.exec(['sysctl', '-q', '-w', `net.ipv4.conf.${link.bIf}.route_localnet=1`]);
  await ctr.exec(['ip', 'route', 'add', '127.0.0.1/32', 'via', HOST_IP, 'dev', link.bIf, 'table', '100']);
  await ctr.exec(['ip', 'rule', 'add', 'to', '127.0.0.1/32', 'lookup', '100', 'pref', '10']);
  await ctr.exec(['ip', 'rule', 'add', 'lookup', 'local', 'pref', '1000']);
  await ctr.exec(['ip', 'rule', 'del', 'pref', '0']);
  await ctr.exec(['ip', 'route', 'add', `${ALIAS}/32`, 'via', HOST_IP]);
  const got = (await ctr.exec(['ip', 'route', 'get', '127.0.0.1'])).stdout;
  assert.match(got, new RegExp(`via ${HOST_IP.replace(/\./g, '\\.')} dev ${link.bIf}`), 'the container routes 127.0.0.1 to the host');

  const exposed = await startReplyServer(host, { host: '127.0.0.1', reply: 'exposed-ok\n' });
  const hidden = await startReplyServer(host, { host: '127.0.0.1', reply: 'hidden-ok\n' });
  const udp = await startUdpRecorder(host);
  const anyUdp = await startUdpRecorder(host, '0.0.0.0');
  return {
    host,
    ctr,
    hostIf: link.aIf,
    root,
    exposed,
    hidden,
    udp,
    anyUdp,
    cli: (args) => runCli(host, [...args, '--files-root', root], { env: ENV }),
  };
}

/** What the container reads from host:port over TCP ('' when dropped/refused). */
async function ctrTcp(lab: HardeningLab, host: string, port: number): Promise<string> {
  const r = await tcpRequest(lab.ctr, host, port, { timeoutMs: 1500 });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** route_localnet as the kernel applies it to the veth: its own value OR `all`'s (what expose sets). */
async function routeLocalnet(lab: HardeningLab): Promise<number> {
  const read = async (scope: string) => Number((await lab.host.exec(['sysctl', '-n', `net.ipv4.conf.${scope}.route_localnet`])).stdout.trim());
  return (await read(lab.hostIf)) | (await read('all'));
}

/**
 * The shared scenario: with the rules loaded the exposed port answers through the alias while
 * direct 127.0.0.1 packets are dropped; `deleteHardening` removes only the hardening rule, after
 * which the same packets reach the unexposed service (the control); `down` restores the sysctl.
 */
async function proveHardening(
  t: TestContext,
  lab: HardeningLab,
  backend: string,
  deleteHardening: () => Promise<void>,
  deleteMartian: () => Promise<void>,
): Promise<void> {
  const before = await routeLocalnet(lab);
  assert.equal(before, 0, 'route_localnet starts off on the trusted veth');
  ok(await lab.cli(['up', '--allow-iface', lab.hostIf, '--firewall', backend]), 'up');
  ok(await lab.cli(['expose', String(lab.exposed.port)]), 'expose');
  // Without route_localnet the kernel itself drops 127/8 from the veth (martian): the rule
  // would not be what is tested. With it on, only the hardening rule stands in the way.
  assert.equal(await routeLocalnet(lab), 1, 'expose turned route_localnet on (all), so for the trusted veth too');

  assert.equal(await ctrTcp(lab, ALIAS, lab.exposed.port), 'exposed-ok', 'the exposed port answers through the alias (DNATed packets pass the hardening)');
  assert.equal(lab.exposed.connections.at(-1)?.remoteAddress, '127.0.0.1', 'and the service sees 127.0.0.1');

  const hiddenBefore = lab.hidden.connections.length;
  assert.equal(await ctrTcp(lab, '127.0.0.1', lab.hidden.port), '', 'TCP to an unexposed 127.0.0.1 service from the veth is dropped');
  assert.equal(await ctrTcp(lab, '127.0.0.1', lab.exposed.port), '', 'the exposed service too, when addressed as 127.0.0.1 instead of the alias');
  assert.equal(lab.hidden.connections.length, hiddenBefore, 'the unexposed service accepted nothing');
  await sendUdp(lab.ctr, lab.udp.port, `${backend}-hardened`);
  await sleep(500);
  assert.deepEqual(
    lab.udp.received.filter((m) => m === `${backend}-hardened`),
    [],
    'UDP to 127.0.0.1 from the veth is dropped',
  );

  await sendFromLoopback(lab.ctr, HOST_IP, lab.anyUdp.port, `${backend}-spoofed`);
  await sleep(500);
  assert.deepEqual(
    lab.anyUdp.received.filter((m) => m === `${backend}-spoofed`),
    [],
    'a spoofed 127.0.0.2 source from the veth is dropped (martian rule)',
  );

  await deleteHardening();
  assert.equal(await ctrTcp(lab, '127.0.0.1', lab.hidden.port), 'hidden-ok', 'control: without the hardening rule the veth reaches a 127.0.0.1-only service');
  assert.equal(lab.hidden.connections.at(-1)?.remoteAddress, CTR_IP, 'control: straight from the container address, no NAT involved');
  await sendUdp(lab.ctr, lab.udp.port, `${backend}-control`);
  const udpArrived = await eventually(async () => lab.udp.received.includes(`${backend}-control`), 3000);
  assert.ok(udpArrived, 'control: without the hardening rule UDP to 127.0.0.1 arrives');
  assert.equal(await ctrTcp(lab, ALIAS, lab.exposed.port), 'exposed-ok', 'the alias path is unaffected');
  await deleteMartian();
  await sendFromLoopback(lab.ctr, HOST_IP, lab.anyUdp.port, `${backend}-spoofed-control`);
  const spoofArrived = await eventually(async () => lab.anyUdp.from.includes(`${backend}-spoofed-control@127.0.0.2`), 3000);
  assert.ok(spoofArrived, `control: without the martian rule (route_localnet=1) a spoofed 127.0.0.2 source is delivered (${lab.anyUdp.from.join(', ')})`);

  ok(await lab.cli(['down']), 'down');
  assert.equal(await routeLocalnet(lab), before, 'down restores route_localnet');
  t.diagnostic(`${backend}: hardening drops TCP+UDP to 127.0.0.1 from ${lab.hostIf}; control without the rule delivers them`);
}

test('expose hardening (nftables): 127.0.0.0/8 from a trusted interface is dropped unless DNATed', { timeout: 180_000 }, async (t) => {
  const lab = await startHardeningLab(t, 'hardnft');
  await proveHardening(
    t,
    lab,
    'nftables',
    async () => {
      const listing = (await lab.host.exec(['nft', '-a', 'list', 'table', 'inet', 'hostalias'])).stdout;
      const rules = listing.split('\n').filter((l) => /ip daddr 127\.0\.0\.0\/8/.test(l) && /\bdrop\b/.test(l));
      assert.equal(rules.length, 1, `exactly one hardening rule in the table:\n${listing}`);
      assert.match(rules[0] ?? '', /iifname != "lo"/, 'it matches on the incoming interface');
      assert.match(rules[0] ?? '', /ct status/, 'it exempts DNATed connections by conntrack status');
      const chain = /chain (\S+) \{[^}]*ip daddr 127\.0\.0\.0\/8[^}]*\}/.exec(listing)?.[1];
      const handle = /# handle (\d+)/.exec(rules[0] ?? '')?.[1];
      assert.ok(chain && handle, `hardening rule's chain and handle:\n${listing}`);
      await lab.host.exec(['nft', 'delete', 'rule', 'inet', 'hostalias', chain, 'handle', handle]);
    },
    async () => {
      const listing = (await lab.host.exec(['nft', '-a', 'list', 'chain', 'inet', 'hostalias', 'martian'])).stdout;
      const handle = /ip saddr 127\.0\.0\.0\/8 drop # handle (\d+)/.exec(listing)?.[1];
      assert.ok(handle, `the martian rule:\n${listing}`);
      await lab.host.exec(['nft', 'delete', 'rule', 'inet', 'hostalias', 'martian', 'handle', handle]);
    },
  );
});

test('expose hardening (iptables): 127.0.0.0/8 from a trusted interface is dropped unless DNATed', { timeout: 180_000 }, async (t) => {
  const lab = await startHardeningLab(t, 'hardipt');
  await proveHardening(
    t,
    lab,
    'iptables',
    async () => {
      const save = (await lab.host.exec(['iptables-save', '-t', 'filter'])).stdout;
      const rules = save.split('\n').filter((l) => l.startsWith('-A HOSTALIAS-LOCALNET '));
      assert.equal(rules.length, 1, `exactly one hardening rule:\n${save}`);
      assert.match(rules[0] ?? '', /-d 127\.0\.0\.0\/8 ! -i lo -m conntrack ! --ctstate DNAT -j DROP/);
      assert.equal((await lab.host.exec(['nft', 'list', 'tables'])).stdout.includes('inet hostalias'), false, 'iptables backend: no nftables table of ours');
      await lab.host.exec(['iptables', '-w', '-t', 'filter', '-D', 'HOSTALIAS-LOCALNET', '1']);
    },
    async () => {
      const save = (await lab.host.exec(['iptables-save', '-t', 'raw'])).stdout;
      assert.match(save, /^-A HOSTALIAS-MARTIAN -s 127\.0\.0\.0\/8 ! -i lo -j DROP$/m);
      await lab.host.exec(['iptables', '-w', '-t', 'raw', '-D', 'HOSTALIAS-MARTIAN', '1']);
    },
  );
});
