/**
 * Load generator and server for `npm run bench`, in Node (no C tool is needed on the machine).
 *
 *   node load.js server HOST:PORT [HOST:PORT…]     prints "ready" once listening on all
 *   node load.js client HOST PORT tput STREAMS SECONDS
 *   node load.js client HOST PORT latency SECONDS
 *   node load.js client HOST PORT connect LANES SECONDS
 *   node load.js client HOST PORT latency-pair PORT_B SECONDS
 *
 * The first byte a client sends picks the server's behaviour: 'T' sink (on the client's FIN it
 * answers with the byte count, so throughput is what the server received), 'L' echo, 'C' answer
 * 'y' and close once the client has closed. The client prints one JSON line with its result.
 */
import net from 'node:net';

function serve(addrs: string[]): void {
  let pending = addrs.length;
  for (const a of addrs) {
    const i = a.lastIndexOf(':');
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      s.on('error', () => undefined);
      let mode = '';
      let count = 0;
      s.on('data', (d: Buffer) => {
        if (mode === '') {
          mode = String.fromCharCode(d[0] as number);
          d = d.subarray(1);
          // 'C': answer one byte and wait for the client to close, as a request/response server does.
          if (mode === 'C') return void s.write('y');
        }
        if (mode === 'T') count += d.length;
        else if (mode === 'L') s.write(d);
      });
      s.on('end', () => {
        if (mode === 'T') s.end(`${count}\n`);
        else s.end();
      });
    });
    server.listen({ host: a.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(a.slice(i + 1)), backlog: 4096 }, () => {
      if (--pending === 0) process.stdout.write('ready\n');
    });
  }
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function throughput(host: string, port: number, streams: number, seconds: number): Promise<object> {
  const block = Buffer.alloc(256 * 1024, 0x5a);
  const started = process.hrtime.bigint();
  const one = async (): Promise<number> => {
    const s = await connect(host, port);
    s.write('T');
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      if (!s.write(block)) await new Promise((r) => s.once('drain', r));
    }
    const reply = new Promise<number>((resolve) => {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => resolve(Number(text.trim())));
    });
    s.end();
    return reply;
  };
  const bytes = (await Promise.all(Array.from({ length: streams }, one))).reduce((a, b) => a + b, 0);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  return { gbps: (bytes * 8) / secs / 1e9, bytes, secs };
}

interface EchoPath {
  s: net.Socket;
  rtts: number[];
  roundTrip(): Promise<void>;
}

/** A connection in echo mode ('L'); roundTrip sends one byte and resolves on its echo. */
async function echoPath(host: string, port: number): Promise<EchoPath> {
  const s = await connect(host, port);
  let resolveOne: (() => void) | null = null;
  s.on('data', () => resolveOne?.());
  s.write('L');
  const byte = Buffer.from('x');
  return {
    s,
    rtts: [],
    roundTrip: () =>
      new Promise<void>((r) => {
        resolveOne = r;
        s.write(byte);
      }),
  };
}

/** Round trips on each path in turn (the order alternates) for `seconds`; the first 200 warm up. */
async function roundTrips(paths: EchoPath[], seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < deadline || i < 100; i++) {
    for (const p of i % 2 === 0 ? paths : [...paths].reverse()) {
      const t0 = process.hrtime.bigint();
      await p.roundTrip();
      if (i >= 200) p.rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  for (const p of paths) p.s.destroy();
}

async function latency(host: string, port: number, seconds: number): Promise<object> {
  const path = await echoPath(host, port);
  await roundTrips([path], seconds);
  return summarize(path.rtts);
}

/**
 * Round trips on two paths taken in turn (one on PORT, one on PORT_B, same host), so both meet
 * the same moment of the machine: a paired A/B, where two separate runs seconds apart would each
 * catch different noise from other processes on the same cores.
 */
async function latencyPair(host: string, portA: number, portB: number, seconds: number): Promise<object> {
  const paths = [await echoPath(host, portA), await echoPath(host, portB)];
  await roundTrips(paths, seconds);
  const [a, b] = paths.map((p) => summarize(p.rtts));
  return { a, b };
}

function summarize(rtts: number[]): { p50us: number; p99us: number; samples: number } {
  rtts.sort((a, b) => a - b);
  const pct = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * p))] ?? 0;
  return { p50us: pct(0.5), p99us: pct(0.99), samples: rtts.length };
}

/**
 * New connections per second as a real short-lived client makes them: connect, send one byte,
 * read the one-byte reply, close (FIN from the client, the side that normally closes), and count
 * the connection once it is fully closed (the server's FIN came back). `lanes` such loops run
 * concurrently; a connection that fails or doesn't finish within 10 s counts as failed.
 */
async function connections(host: string, port: number, lanes: number, seconds: number): Promise<object> {
  let done = 0;
  let failed = 0;
  const deadline = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port, noDelay: true });
      let got = false;
      const timer = setTimeout(() => s.destroy(), 10_000);
      s.once('data', () => {
        got = true;
        s.end();
      });
      s.on('error', () => undefined);
      s.on('close', (hadError) => {
        clearTimeout(timer);
        if (got && !hadError) done++;
        else failed++;
        resolve();
      });
      s.write('C');
    });
  const lane = async () => {
    while (Date.now() < deadline) await one();
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  return { perSec: done / secs, done, failed };
}

async function client(args: string[]): Promise<void> {
  const [host, port, test, a, b] = args;
  const p = Number(port);
  let result: object;
  if (test === 'tput') result = await throughput(host as string, p, Number(a), Number(b));
  else if (test === 'latency') result = await latency(host as string, p, Number(a));
  else if (test === 'latency-pair') result = await latencyPair(host as string, p, Number(a), Number(b));
  else result = await connections(host as string, p, Number(a), Number(b));
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'server') serve(rest);
else await client(rest);
