/**
 * `hostalias forward` as a real CLI process under stress, over 127.0.0.0/8 only: the relay
 * listens on 127.0.0.2 (no address is added anywhere) and relays to servers on 127.0.0.1.
 * Memory and fds are read from /proc/<relay pid>.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import {
  closeServer,
  connect,
  fdCount,
  listen,
  nofileLimits,
  PIPE_POOL_FDS,
  readAll,
  RELAY_HOST,
  repoDir,
  rssKb,
  sleep,
  spawnRelay,
  withChildren,
  type RelayChild,
} from '../support/forward-lab.js';

const MB = 1024 * 1024;

function stopAfter(t: { after(fn: () => Promise<void>): void }, relay: RelayChild): void {
  t.after(async () => void (await relay.kill('SIGKILL')));
}

/** Samples the relay's RSS every 50 ms until stopped; returns the peak in MB. */
function sampleRss(pid: number): { stop(): number } {
  let peak = rssKb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  return {
    stop: () => {
      clearInterval(timer);
      return peak / 1024;
    },
  };
}

test('backpressure: 200 MB to a reader that stalls, then reads slowly: relay memory stays bounded', async (t) => {
  const total = 200 * MB;
  const block = Buffer.alloc(MB, 7);
  let written = 0;
  const server = net.createServer(async (s) => {
    s.on('error', () => undefined);
    while (written < total) {
      written += block.length;
      if (!s.write(block)) await new Promise((r) => s.once('drain', r));
    }
    s.end();
  });
  const port = await listen(server);
  const relay = await spawnRelay(port, ['--workers', '1']);
  stopAfter(t, relay);
  t.after(() => closeServer(server));
  const baseline = rssKb(relay.pid) / 1024;
  const rss = sampleRss(relay.pid);

  const c = await connect(port);
  await sleep(1500); // no 'data' listener: the client reads nothing
  const writtenWhileStalled = written;
  let received = 0;
  let slow = true;
  const done = new Promise<void>((resolve, reject) => {
    c.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (slow) {
        c.pause();
        setTimeout(() => c.resume(), 5);
      }
    });
    c.on('end', () => resolve());
    c.on('error', reject);
  });
  await sleep(1000);
  slow = false;
  await done;
  const peak = rss.stop();
  t.diagnostic(
    `relay RSS ${baseline.toFixed(1)} MB → peak ${peak.toFixed(1)} MB; server had written ${(writtenWhileStalled / MB).toFixed(0)} MB while the client stalled`,
  );
  assert.equal(received, total, 'every byte arrives');
  assert.ok(writtenWhileStalled < 64 * MB, `the stall reached the server (it wrote only ${writtenWhileStalled / MB} MB)`);
  assert.ok(peak - baseline < 64, `relay RSS grew by ${(peak - baseline).toFixed(1)} MB`);
});

test('backpressure upstream: a client sending 200 MB to a server that stalls', async (t) => {
  const total = 200 * MB;
  let received = 0;
  let serverSocket: net.Socket | null = null;
  const allIn = new Promise<void>((resolve) => {
    const server = net.createServer({ pauseOnConnect: true }, (s) => {
      serverSocket = s;
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (received += d.length));
      s.on('end', () => {
        s.end();
        resolve();
      });
    });
    t.after(() => closeServer(server));
    void listen(server).then((p) => start(p));
  });
  let start!: (p: number) => void;
  const port = await new Promise<number>((r) => (start = r));
  const relay = await spawnRelay(port, ['--workers', '1']);
  stopAfter(t, relay);
  const baseline = rssKb(relay.pid) / 1024;
  const rss = sampleRss(relay.pid);
  const c = await connect(port);
  c.on('error', () => undefined);
  const block = Buffer.alloc(MB, 9);
  let sent = 0;
  const sending = (async () => {
    while (sent < total) {
      sent += block.length;
      if (!c.write(block)) await new Promise((r) => c.once('drain', r));
    }
    c.end();
  })();
  await sleep(1500);
  const sentWhileStalled = sent;
  (serverSocket as net.Socket | null)?.resume();
  await sending;
  await allIn;
  const peak = rss.stop();
  t.diagnostic(
    `relay RSS ${baseline.toFixed(1)} MB → peak ${peak.toFixed(1)} MB; client could send ${(sentWhileStalled / MB).toFixed(0)} MB while the server stalled`,
  );
  assert.equal(received, total);
  assert.ok(sentWhileStalled < 64 * MB, `client sent ${sentWhileStalled / MB} MB into a stalled server`);
  assert.ok(peak - baseline < 64, `relay RSS grew by ${(peak - baseline).toFixed(1)} MB`);
});

test('100k connections: no fd or memory growth in the relay', async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('y')); // the server closes first: TIME_WAIT stays on its side
  });
  const port = await listen(server);
  const relay = await spawnRelay(port, ['--workers', '1']);
  stopAfter(t, relay);
  t.after(() => closeServer(server));
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const c = net.connect({ host: RELAY_HOST, port });
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('error', () => undefined);
      c.on('close', () => {
        if (got !== 'y') failed++;
        resolve();
      });
      c.write('x');
    });
  const run = async (count: number) => {
    let next = 0;
    const lane = async () => {
      while (next < count) {
        next++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: 200 }, lane));
  };
  const started = Date.now();
  await run(10_000);
  await sleep(300);
  const fd0 = fdCount(relay.pid);
  const rss0 = rssKb(relay.pid) / 1024;
  await run(90_000);
  const secs = (Date.now() - started) / 1000;
  await sleep(300);
  const fd1 = fdCount(relay.pid);
  const rss1 = rssKb(relay.pid) / 1024;
  t.diagnostic(
    `100k connections in ${secs.toFixed(1)} s (${Math.round(100_000 / secs)}/s); relay fds ${fd0} → ${fd1}, RSS ${rss0.toFixed(1)} → ${rss1.toFixed(1)} MB`,
  );
  assert.equal(failed, 0, `${failed} connections did not get their reply`);
  assert.ok(fd1 <= fd0 + 4 + PIPE_POOL_FDS, `fds grew from ${fd0} to ${fd1}`);
  assert.ok(rss1 - rss0 < 40, `RSS grew by ${(rss1 - rss0).toFixed(1)} MB over 90k connections`);
});

test('10k concurrent connections with bounded relay memory', async (t) => {
  // Every relayed connection costs the relay 2 fds, the client 1 and the server 1. Under a 20000
  // per-process fd limit (this sandbox's, not raisable) 10k fit when the relay runs 2 workers
  // (round-robin: about 5k connections, 10k fds each) and client and server are two processes.
  const { hard } = nofileLimits();
  const n = Math.min(10_000, hard - 200);
  if (n < 10_000) t.diagnostic(`this machine's hard fd limit (${hard}) allows ${n} concurrent connections, not 10000`);
  const loadChild = (role: string) => {
    const child = spawn(
      'prlimit',
      [`--nofile=${hard}:${hard}`, '--', process.execPath, join(repoDir(), 'build', 'test', 'support', 'forward-load-child.js'), String(n), role],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    t.after(() => void child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse(((await lines.next()).value as string) ?? '{}') as { port?: number; open?: number; failed?: number; closed?: number };
    return { child, next };
  };
  const server = loadChild('server');
  const client = loadChild('client');
  const { port } = await server.next();
  await client.next();
  const relay = await spawnRelay(port as number, ['--workers', '2', '--schedule', 'round-robin'], { nofile: hard });
  stopAfter(t, relay);
  const sum = (f: (pid: number) => number) => withChildren(relay.pid).reduce((acc, pid) => acc + f(pid), 0);
  const fd0 = sum(fdCount);
  const rss0 = sum(rssKb) / 1024;
  const started = Date.now();
  client.child.stdin.write(`open ${port}\n`);
  const opened = await client.next();
  const fdOpen = sum(fdCount);
  const rssOpen = sum(rssKb) / 1024;
  t.diagnostic(
    `${opened.open} concurrent connections open in ${Date.now() - started} ms; relay fds (primary + 2 workers) ${fd0} → ${fdOpen}, RSS ${rss0.toFixed(1)} → ${rssOpen.toFixed(1)} MB (${(((rssOpen - rss0) * 1024) / n).toFixed(1)} KB per connection)`,
  );
  assert.equal(opened.failed, 0);
  assert.equal(opened.open, n);
  assert.ok(fdOpen >= fd0 + 2 * n, 'the relay holds both sides of every connection at once');
  assert.ok(rssOpen - rss0 < 200, `RSS grew by ${(rssOpen - rss0).toFixed(1)} MB for ${n} connections`);
  client.child.stdin.write('close\n');
  await client.next();
  let fdAfter = sum(fdCount);
  // Each relay process may keep its threads' pools of empty pipes.
  const allowed = fd0 + 4 + PIPE_POOL_FDS * withChildren(relay.pid).length;
  for (let i = 0; i < 50 && fdAfter > allowed; i++) {
    await sleep(100);
    fdAfter = sum(fdCount);
  }
  assert.ok(fdAfter <= allowed, `relay fds after closing all: ${fdAfter} (before: ${fd0})`);
  client.child.stdin.end();
  server.child.stdin.end();
});

test('SIGTERM: stops accepting, lets a live connection finish, exits 0 (2 workers)', { timeout: 120_000 }, async (t) => {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => s.end());
  });
  const port = await listen(server);
  t.after(() => closeServer(server));
  // A grace period of an hour: an exit that waited for it would end the test by its timeout instead.
  const relay = await spawnRelay(port, ['--workers', '2', '--grace', '3600']);
  stopAfter(t, relay);
  const live = await connect(port, RELAY_HOST, { allowHalfOpen: true });
  const reply = readAll(live);
  live.write('before ');
  await sleep(200);
  relay.proc.kill('SIGTERM');
  await sleep(500);
  // New connections are refused now…
  const refused = await connect(port).then(
    (s) => {
      s.destroy();
      return 'accepted';
    },
    (e: NodeJS.ErrnoException) => e.code,
  );
  assert.equal(refused, 'ECONNREFUSED');
  assert.equal(relay.proc.exitCode, null, 'still running while a connection is live');
  // …while the live one still works both ways and ends cleanly.
  live.end('after');
  const { data, error } = await reply;
  assert.equal(error, null);
  assert.equal(data.toString(), 'before after');
  assert.equal(await relay.exited, 0);
  const last = JSON.parse(relay.lines.at(-1) ?? '{}') as { event?: string; stats?: { accepted?: number } };
  t.diagnostic(`final ${JSON.stringify(last)}`);
  assert.equal(last.event, 'stopped');
  assert.equal(last.stats?.accepted, 1);
});

test('SIGTERM: a connection still open after the grace period is reset', async (t) => {
  const server = net.createServer((s) => s.on('error', () => undefined));
  const port = await listen(server);
  t.after(() => closeServer(server));
  const relay = await spawnRelay(port, ['--workers', '1', '--grace', '1']);
  stopAfter(t, relay);
  const idle = await connect(port);
  const res = readAll(idle);
  await sleep(200);
  relay.proc.kill('SIGTERM');
  const { error } = await res;
  assert.equal(error?.code, 'ECONNRESET');
  assert.equal(await relay.exited, 0);
});
