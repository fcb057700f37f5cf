/**
 * The client of bench/dns.ts, run inside the bench's namespace (nsenter): latency and throughput
 * of DNS queries over UDP, printed as one JSON line.
 *
 *   node dns-load.js latency RESOLVER UPSTREAM ROUNDS
 *   node dns-load.js rate HOST NAME QPS SECONDS
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

const [mode, a, b, c, d] = process.argv.slice(2);

function q(name: string, id: number): Buffer {
  return dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
}

/** One query, its answer time in ms (Infinity after 2 s). */
function ask(sock: dgram.Socket, host: string, name: string, id: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const timer = setTimeout(() => {
      sock.off('message', on);
      resolve(Number.POSITIVE_INFINITY);
    }, 2000);
    const on = (m: Buffer) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.off('message', on);
      resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    sock.on('message', on);
    sock.send(q(name, id), 53, host);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? Number.NaN;

async function latency(resolver: string, upstream: string, rounds: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, () => r()));
  const kinds = {
    recorded: { host: resolver, name: 'host.docker.internal' },
    forwarded: { host: resolver, name: 'split.corp.example' },
    direct: { host: upstream, name: 'split.corp.example' },
  };
  const times: Record<string, number[]> = { recorded: [], forwarded: [], direct: [] };
  let id = 1;
  // Paired rounds: each kind once per round, in turn, so all three meet the same moments of load.
  for (let i = 0; i < rounds + 200; i++) {
    for (const [k, v] of Object.entries(kinds)) {
      const ms = await ask(sock, v.host, v.name, id++ & 0xffff);
      if (i >= 200) times[k]?.push(ms);
    }
  }
  sock.close();
  const out: Record<string, unknown> = {};
  for (const [k, xs] of Object.entries(times)) out[k] = { p50: pct(xs, 50), p99: pct(xs, 99), lost: xs.filter((x) => x === Number.POSITIVE_INFINITY).length };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Sends `qps` queries a second for `seconds` from 16 sockets; counts the answers. */
async function rate(host: string, name: string, qps: number, seconds: number): Promise<void> {
  const socks = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, () => r()));
      return s;
    }),
  );
  let answered = 0;
  for (const s of socks) s.on('message', () => answered++);
  const packet = q(name, 7);
  const total = qps * seconds;
  const started = Date.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * qps));
    while (sent < due) {
      socks[sent % socks.length]?.send(packet, 53, host);
      sent++;
    }
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  for (const s of socks) s.close();
  process.stdout.write(`${JSON.stringify({ qps, sent, answered, loss: 1 - answered / sent, achieved: sent / elapsed })}\n`);
}

if (mode === 'latency') await latency(a ?? '', b ?? '', Number(c));
else if (mode === 'rate') await rate(a ?? '', b ?? '', Number(c), Number(d));
