/**
 * The resolver of `up --dns`: its answers (a table), the host's files as glibc reads them, the
 * sources it answers, a fuzz of random and crafted packets (it answers or drops, never throws,
 * and still answers afterwards), forwarding to a scripted upstream (SERVFAIL when it is silent,
 * the next server on SERVFAIL, TC over UDP, the whole answer over TCP), and its caps (per-source
 * rate, in-flight). Everything on 127.0.0.1 with ports the kernel picks; no root.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import dnsPacket, { type Answer } from 'dns-packet';
import { decide, fitUdp, RCODE, type LocalNames } from '../../src/dns/answer.js';
import { isLoopbackAddress, parseHosts, parseResolvConf } from '../../src/dns/host-files.js';
import { upstreamsFrom } from '../../src/dns/load.js';
import { startResolver, type ResolverLimits } from '../../src/dns/server.js';
import { containerSourcePolicy, ifaceMatches } from '../../src/dns/sources.js';
import type { Upstream } from '../../src/dns/upstream.js';
import { decoded, query, rcodeOf, startFakeUpstream, tcpAsk, udpAsk, type UpstreamScript } from '../support/dns-client.js';

const ALIAS = '10.254.254.254';
const HOSTS =
  '127.0.0.1\tlocalhost\n# a comment\n192.0.2.10 box.example box # trailing\n192.0.2.11 BOX.example\n2001:db8::10 box.example\n::1 localhost ip6-localhost\n192.0.2.12 v4only.example\nbad line\n';
const local: LocalNames = { alias: ALIAS, names: new Set(['local_host', 'local', 'host.docker.internal']), hosts: parseHosts(HOSTS), ttl: 10 };

function answerOf(q: Buffer): { rcode: string; data: string[]; aa: boolean } | string {
  const d = decide(q, local);
  if (d.kind !== 'reply') return d.kind;
  const p = dnsPacket.decode(d.packet);
  return { rcode: (p as { rcode?: string }).rcode ?? '', data: (p.answers ?? []).map((a) => String((a as { data: unknown }).data)), aa: p.flag_aa === true };
}

test('dns answers: recorded names, /etc/hosts, refusals, everything else forwarded', () => {
  const table: Array<[string, string, ReturnType<typeof answerOf>]> = [
    ['host.docker.internal', 'A', { rcode: 'NOERROR', data: [ALIAS], aa: true }],
    ['HOST.Docker.Internal.', 'A', { rcode: 'NOERROR', data: [ALIAS], aa: true }],
    ['local_host', 'AAAA', { rcode: 'NOERROR', data: [], aa: true }],
    ['local', 'MX', { rcode: 'NOERROR', data: [], aa: true }],
    ['box.example', 'A', { rcode: 'NOERROR', data: ['192.0.2.10', '192.0.2.11'], aa: true }],
    ['box', 'A', { rcode: 'NOERROR', data: ['192.0.2.10'], aa: true }],
    ['box.example', 'AAAA', { rcode: 'NOERROR', data: ['2001:db8::10'], aa: true }],
    ['v4only.example', 'AAAA', { rcode: 'NOERROR', data: [], aa: true }],
    ['ip6-localhost', 'A', { rcode: 'NOERROR', data: [], aa: true }],
    ['example.org', 'ANY', { rcode: 'REFUSED', data: [], aa: false }],
    ['example.org', 'AXFR', { rcode: 'REFUSED', data: [], aa: false }],
    ['example.org', 'IXFR', { rcode: 'REFUSED', data: [], aa: false }],
    ['example.org', 'A', 'forward'],
    ['sub.host.docker.internal', 'A', 'forward'],
  ];
  for (const [name, type, want] of table) assert.deepEqual(answerOf(query(name, type)), want, `${name} ${type}`);
  const chaos = dnsPacket.encode({ id: 1, type: 'query', questions: [{ type: 'TXT', name: 'version.bind', class: 'CH' }] });
  assert.deepEqual(answerOf(chaos), { rcode: 'REFUSED', data: [], aa: false }, 'class CH');
});

test('dns answers echo the id and question as asked, and add OPT only when the query had one', () => {
  const d = decide(query('Local_Host', 'A', { id: 777, edns: 4096 }), local);
  assert.equal(d.kind, 'reply');
  const p = dnsPacket.decode(d.kind === 'reply' ? d.packet : Buffer.alloc(0));
  assert.equal(p.id, 777);
  assert.equal(p.questions?.[0]?.name, 'Local_Host');
  assert.equal(p.flag_rd, true);
  assert.equal(p.flag_ra, true);
  assert.equal(p.additionals?.[0]?.type, 'OPT');
  const plain = decide(query('local', 'A'), local);
  assert.equal(dnsPacket.decode(plain.kind === 'reply' ? plain.packet : Buffer.alloc(0)).additionals?.length, 0);
  const fwd = decide(query('a.example', 'A', { edns: 1232 }), local);
  assert.deepEqual(fwd.kind === 'forward' ? fwd.maxSize : null, 1232);
  const huge = decide(query('a.example', 'A', { edns: 65000 }), local);
  assert.deepEqual(huge.kind === 'forward' ? huge.maxSize : null, 4096, 'the client size is capped');
  const plainFwd = decide(query('a.example', 'A'), local);
  assert.deepEqual(plainFwd.kind === 'forward' ? plainFwd.maxSize : null, 512);
});

test('hosts(5) and resolv.conf(5) as glibc reads them', () => {
  const h = parseHosts(HOSTS);
  assert.deepEqual(h.v4.get('box.example'), ['192.0.2.10', '192.0.2.11']);
  assert.deepEqual(h.v6.get('localhost'), ['::1']);
  assert.equal(h.v4.has('bad'), false);
  assert.deepEqual(parseResolvConf(''), []);
  const rc = parseResolvConf(
    '# c\nsearch corp.example\nnameserver 127.0.0.53\nnameserver  192.0.2.53 # x\nnameserver not-an-ip\nnameserver fe80::1%eth0\nnameserver 192.0.2.54\noptions edns0\n',
  );
  assert.deepEqual(
    rc.map((s) => s.address),
    ['127.0.0.53', '192.0.2.53', 'fe80::1%eth0'],
    'the first three valid servers (MAXNS)',
  );
  assert.deepEqual(
    upstreamsFrom(`nameserver ${ALIAS}\nnameserver 127.0.0.53\n`, [ALIAS]).map((u) => u.address),
    ['127.0.0.53'],
    'never itself; loopback kept',
  );
  assert.equal(isLoopbackAddress('127.0.0.53'), true);
  assert.equal(isLoopbackAddress('::1'), true);
  assert.equal(isLoopbackAddress('192.0.2.1'), false);
});

test('dns sources: loopback, own addresses, container bridges; not the LAN; a new network on its first query', () => {
  let now = 0;
  const ifaces: Record<string, Array<{ address: string; cidr: string }>> = {
    lo: [{ address: '127.0.0.1', cidr: '127.0.0.1/8' }],
    eth0: [{ address: '192.168.1.20', cidr: '192.168.1.20/24' }],
    docker0: [{ address: '172.17.0.1', cidr: '172.17.0.1/16' }],
  };
  const policy = containerSourcePolicy({ trusted: ['docker0', 'br-+'], interfaces: () => ifaces as never, now: () => now });
  assert.equal(policy.allows('127.0.0.5'), true);
  assert.equal(policy.allows('::ffff:127.0.0.1'), true);
  assert.equal(policy.allows('192.168.1.20'), true, "the host's own address");
  assert.equal(policy.allows('172.17.0.2'), true, 'a container on docker0');
  assert.equal(policy.allows('192.168.1.30'), false, 'a LAN neighbour');
  assert.equal(policy.allows('172.18.0.2'), false, 'no such network yet');
  ifaces['br-0123456789ab'] = [{ address: '172.18.0.1', cidr: '172.18.0.1/16' }];
  now += 1500;
  assert.equal(policy.allows('172.18.0.2'), true, 'a network created later, seen on its first query after the refresh interval');
  assert.equal(ifaceMatches('br-lan', ['br-+']), true);
  assert.equal(ifaceMatches('cni-podman0', ['docker0']), false);
});

/** Every prefix of `q` (truncated headers and questions). */
function truncations(q: Buffer): Buffer[] {
  return Array.from({ length: q.length }, (_, i) => q.subarray(0, i));
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
}

/** Crafted packets: truncated headers, compression loops, oversized labels and names, odd counts. */
function crafted(): Buffer[] {
  const out: Buffer[] = [];
  out.push(...truncations(query('host.docker.internal', 'A')));
  const tail = Buffer.from([0, 1, 0, 1]);
  // A pointer to itself, a pointer forward, a pointer chain that loops, a pointer past the end.
  out.push(Buffer.concat([header(1, 0x100, 1), Buffer.from([0xc0, 12]), tail]));
  out.push(Buffer.concat([header(2, 0x100, 1), Buffer.from([0xc0, 14, 0xc0, 12]), tail]));
  out.push(Buffer.concat([header(3, 0x100, 1), Buffer.from([1, 0x61, 0xc0, 12]), tail]));
  out.push(Buffer.concat([header(4, 0x100, 1), Buffer.from([0xc0, 0xff]), tail]));
  // Labels of 64..191 (the 0x40/0x80 prefixes), and a 63-byte label claiming more than there is.
  for (const len of [64, 65, 100, 127, 128, 191])
    out.push(Buffer.concat([header(5, 0x100, 1), Buffer.from([len]), Buffer.alloc(len, 0x61), Buffer.from([0]), tail]));
  out.push(Buffer.concat([header(6, 0x100, 1), Buffer.from([63]), Buffer.alloc(10, 0x61)]));
  // A name of 300 bytes (five labels of 59).
  out.push(
    Buffer.concat([
      header(7, 0x100, 1),
      ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([59]), Buffer.alloc(59, 0x62)])),
      Buffer.from([0]),
      tail,
    ]),
  );
  // Counts that lie: no question, 2 and 65535 questions, answers in a query, a response, opcodes 1..15.
  out.push(header(8, 0x100, 0));
  out.push(Buffer.concat([header(9, 0x100, 2), query('a.example', 'A').subarray(12), query('b.example', 'A').subarray(12)]));
  out.push(Buffer.concat([header(10, 0x100, 65535), query('a.example', 'A').subarray(12)]));
  out.push(Buffer.concat([header(11, 0x100, 1, 3), query('a.example', 'A').subarray(12)]));
  out.push(Buffer.concat([header(12, 0x8100, 1), query('a.example', 'A').subarray(12)]));
  for (let op = 1; op < 16; op++) out.push(Buffer.concat([header(13, op << 11, 1), query('a.example', 'A').subarray(12)]));
  // An OPT record with a garbage length, and bytes that are not UTF-8 in a label.
  out.push(Buffer.concat([query('a.example', 'A', { edns: 4096 }).subarray(0, -4), Buffer.from([0xff, 0xff, 0, 0])]));
  out.push(Buffer.concat([header(14, 0x100, 1), Buffer.from([2, 0xff, 0xfe, 0]), tail]));
  out.push(Buffer.alloc(65_000, 0xc0));
  return out;
}

/** Random packets, and valid queries with random bytes flipped (a seeded generator: the same run every time). */
function random(count: number): Buffer[] {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const base = [query('host.docker.internal', 'A'), query('box.example', 'AAAA', { edns: 1232 }), query('forward.example', 'TXT')];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      out.push(Buffer.from(Array.from({ length: Math.floor(next() * 80) }, () => Math.floor(next() * 256))));
    } else {
      const b = Buffer.from(base[i % base.length] ?? Buffer.alloc(0));
      for (let k = 0; k < 1 + Math.floor(next() * 4); k++) b[Math.floor(next() * b.length)] = Math.floor(next() * 256);
      out.push(b);
    }
  }
  return out;
}

test('dns fuzz: decide never throws; every reply is a response to the same id', () => {
  let replies = 0;
  for (const p of [...crafted(), ...random(20_000)]) {
    const d = decide(p, local);
    if (d.kind !== 'reply') continue;
    replies++;
    assert.ok(d.packet.length >= 12);
    assert.equal(d.packet.readUInt16BE(0), p.readUInt16BE(0), 'same id');
    assert.ok(d.packet.readUInt16BE(2) & 0x8000, 'QR set');
  }
  assert.ok(replies > 1000, `answered ${replies}`);
  const loop = crafted()[truncations(query('host.docker.internal', 'A')).length];
  assert.ok(loop);
  const d = decide(loop, local);
  assert.equal(d.kind === 'reply' && d.rcode, RCODE.FORMERR, 'a compression loop is FORMERR');
});

async function resolver(t: TestContext, opts: { upstreams?: Upstream[]; limits?: Partial<ResolverLimits> } = {}) {
  const r = await startResolver({
    listen: { host: '127.0.0.1', port: 0 },
    local,
    upstreams: opts.upstreams ?? [],
    sources: { allows: () => true },
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  t.after(() => r.close());
  return r;
}

async function upstream(t: TestContext, script: UpstreamScript) {
  const u = await startFakeUpstream(script);
  t.after(() => u.close());
  return { ...u, server: { address: '127.0.0.1', family: 4 as const, port: u.port } };
}

test('dns fuzz over the wire: the resolver survives every packet on UDP and TCP and answers afterwards', async (t) => {
  const up = await upstream(t, () => ({ answers: [{ type: 'A', name: 'forward.example', data: '192.0.2.99' } as Answer] }));
  const r = await resolver(t, { upstreams: [up.server] });
  const packets = [...crafted(), ...random(2000)];
  const sock = (await import('node:dgram')).createSocket('udp4');
  for (const p of packets) await new Promise<void>((res) => sock.send(p, r.address.port, '127.0.0.1', () => res()));
  sock.close();
  await tcpAsk('127.0.0.1', r.address.port, packets.filter((p) => p.length < 65_000).slice(0, 300), { timeoutMs: 2000 });
  await tcpAsk('127.0.0.1', r.address.port, [], { raw: Buffer.from([0xff, 0xff, 1, 2, 3]), timeoutMs: 300 });
  const after = decoded(await udpAsk('127.0.0.1', r.address.port, query('host.docker.internal', 'A')));
  assert.deepEqual(
    after.answers?.map((a) => (a as { data: unknown }).data),
    [ALIAS],
  );
  const tcp = await tcpAsk('127.0.0.1', r.address.port, [query('local', 'A')]);
  assert.equal(decoded(tcp[0] ?? null).answers?.length, 1);
  assert.ok(r.stats().malformed > 0, JSON.stringify(r.stats()));
});

test('dns forwarding: the upstream answers; SERVFAIL from one moves on to the next; a silent one is SERVFAIL within the deadline', async (t) => {
  const good = await upstream(t, (q) => ({ answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', data: '198.51.100.7' } as Answer] }));
  const failing = await upstream(t, () => ({ rcode: RCODE.SERVFAIL }));
  const silent = await upstream(t, () => ({ silent: true }));
  const r = await resolver(t, { upstreams: [failing.server, good.server] });
  const a = decoded(await udpAsk('127.0.0.1', r.address.port, query('split.corp.example', 'A', { id: 99 })));
  assert.equal(a.id, 99, "the client's id");
  assert.deepEqual(
    a.answers?.map((x) => (x as { data: unknown }).data),
    ['198.51.100.7'],
  );
  assert.equal(failing.seen.length, 1);
  const dead = await resolver(t, { upstreams: [silent.server], limits: { attemptMs: 200, deadlineMs: 600 } });
  // The client waits 10 s; the resolver's deadline is 600 ms: an answer at all shows the deadline, not the client, ended the wait.
  assert.equal(rcodeOf(await udpAsk('127.0.0.1', dead.address.port, query('x.example', 'A'), 10_000)), 'SERVFAIL');
  assert.ok(silent.seen.length >= 2, 'asked again before giving up');
  const none = await resolver(t, { upstreams: [] });
  assert.equal(rcodeOf(await udpAsk('127.0.0.1', none.address.port, query('x.example', 'A'))), 'SERVFAIL', 'no upstream at all');
  assert.deepEqual(rcodeOf(await udpAsk('127.0.0.1', none.address.port, query('local', 'A'))), 'NOERROR', 'local names still answer');
});

test('dns forwarding: an answer over the client’s UDP size gets TC; over TCP the whole answer', async (t) => {
  const many = (name: string) => Array.from({ length: 60 }, (_, i) => ({ type: 'A', name, data: `192.0.2.${i + 1}` }) as Answer);
  const up = await upstream(t, (q) => ({ answers: many(q.questions?.[0]?.name ?? '') }));
  const r = await resolver(t, { upstreams: [up.server] });
  const udp = await udpAsk('127.0.0.1', r.address.port, query('big.example', 'A'));
  const d = decoded(udp);
  assert.equal(d.flag_tc, true);
  assert.equal(d.answers?.length, 0);
  assert.ok((udp?.length ?? 0) <= 512);
  const edns = decoded(await udpAsk('127.0.0.1', r.address.port, query('big.example', 'A', { edns: 4096 })));
  assert.equal(edns.flag_tc, false, 'fits 4096');
  assert.equal(edns.answers?.length, 60);
  const tcp = await tcpAsk('127.0.0.1', r.address.port, [query('big.example', 'A')]);
  assert.equal(decoded(tcp[0] ?? null).answers?.length, 60);
  assert.equal(fitUdp(Buffer.alloc(10), 512).length, 10, 'a fitting answer is left alone');
});

test('dns caps: a source over its rate gets REFUSED; past the in-flight cap SERVFAIL at once', async (t) => {
  const up = await upstream(t, (q) => ({ answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', data: '192.0.2.1' } as Answer] }));
  const r = await resolver(t, { upstreams: [up.server], limits: { perSourceRate: 1, perSourceBurst: 3 } });
  const codes: string[] = [];
  for (let i = 0; i < 6; i++) codes.push(rcodeOf(await udpAsk('127.0.0.1', r.address.port, query(`n${i}.example`, 'A'))) ?? '');
  assert.deepEqual(codes.slice(0, 3), ['NOERROR', 'NOERROR', 'NOERROR']);
  assert.ok(codes.slice(3).includes('REFUSED'), codes.join(','));
  assert.equal(rcodeOf(await udpAsk('127.0.0.1', r.address.port, query('local', 'A'))), 'NOERROR', 'local answers are not rate-limited');
  const silent = await upstream(t, () => ({ silent: true }));
  const busy = await resolver(t, { upstreams: [silent.server], limits: { maxInFlight: 1, attemptMs: 1000, deadlineMs: 1000 } });
  const first = udpAsk('127.0.0.1', busy.address.port, query('slow.example', 'A'), 3000);
  assert.equal(rcodeOf(await udpAsk('127.0.0.1', busy.address.port, query('other.example', 'A'), 500)), 'SERVFAIL', 'the cap answers at once');
  assert.equal(rcodeOf(await first), 'SERVFAIL');
});

test('dns: sources the policy refuses get no answer; reload takes new names', async (t) => {
  const r = await startResolver({ listen: { host: '127.0.0.1', port: 0 }, local, upstreams: [], sources: { allows: () => false } });
  t.after(() => r.close());
  assert.equal(await udpAsk('127.0.0.1', r.address.port, query('local', 'A'), 300), null);
  assert.equal(r.stats().deniedSources, 1);
  const open = await resolver(t);
  assert.equal(rcodeOf(await udpAsk('127.0.0.1', open.address.port, query('db.internal', 'A'))), 'SERVFAIL');
  open.reload({ local: { ...local, names: new Set(['db.internal']) } });
  assert.deepEqual(
    decoded(await udpAsk('127.0.0.1', open.address.port, query('db.internal', 'A'))).answers?.map((a) => (a as { data: unknown }).data),
    [ALIAS],
  );
});
