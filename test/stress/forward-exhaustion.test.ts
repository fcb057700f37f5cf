/**
 * The relay under exhaustion, over 127.0.0.0/8 only: 12k held TCP connections against a
 * relay whose open-files limit is 4096, and a UDP flood from many source ports.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import { parseOpenFilesLimit } from '../../src/forward/fd-limit.js';
import { startUdpRelay } from '../../src/forward/udp-relay.js';
import { closeServer, fdCount, listen, RELAY_HOST, sleep, spawnRelay, waitUntil } from '../support/forward-lab.js';

test('open-files limit: read from /proc/self/limits', () => {
  const text =
    'Limit                     Soft Limit           Hard Limit           Units\nMax open files            4096                 20000                files\n';
  assert.equal(parseOpenFilesLimit(text), 4096);
  assert.equal(parseOpenFilesLimit('Max open files            unlimited            unlimited            files\n'), Number.MAX_SAFE_INTEGER);
  assert.equal(parseOpenFilesLimit(null), null);
});

/** What a client sees within `ms`: its echo, a close/reset, or nothing (a hang). */
function probe(port: number, ms: number): Promise<'served' | 'refused' | 'hang'> {
  return new Promise((resolve) => {
    const s = net.connect({ host: RELAY_HOST, port });
    const done = (r: 'served' | 'refused' | 'hang') => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('hang'), ms);
    s.on('connect', () => s.write('ping'));
    s.on('data', (d) => (d.toString() === 'ping' ? done('served') : undefined));
    s.on('error', () => done('refused'));
    s.on('close', () => done('refused'));
  });
}

test('12k held connections: past its cap (from RLIMIT_NOFILE) the relay refuses at once; a good client is served or refused promptly, never hangs', {
  timeout: 240_000,
}, async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const port = await listen(server);
  // Not awaited: the server's close waits for its connections, which the relay's end ends.
  t.after(() => void closeServer(server));
  const relay = await spawnRelay(port, [], { nofile: 4096 }); // cap (4096 - reserved) / 2: at most 2016 (fd-limit.ts)
  t.after(async () => void (await relay.kill('SIGKILL')));
  const relayPort = Number(/"port":(\d+)/.exec(relay.lines.join('\n'))?.[1]);

  const held: net.Socket[] = [];
  t.after(() => {
    for (const s of held) s.destroy();
  });
  let closed = 0;
  for (let batch = 0; batch < 12_000; batch += 500) {
    await Promise.all(
      Array.from(
        { length: 500 },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host: RELAY_HOST, port: relayPort });
            held.push(s);
            s.on('error', () => undefined);
            s.once('close', () => closed++);
            s.once('connect', () => resolve());
            s.once('error', () => resolve());
            // A SYN dropped while the accept queue is full is retried by the kernel for minutes; the next batch needn't wait for it.
            setTimeout(resolve, 10_000).unref();
          }),
      ),
    );
  }
  // The relay refuses what waits in its accept queue as fast as the machine lets it: a loaded one takes seconds.
  await waitUntil(async () => closed >= 12_000 - 2016 - 50, 30_000);
  assert.ok(closed >= 12_000 - 2016 - 50, `the relay refused the connections past its cap (${closed} closed)`);
  assert.ok(fdCount(relay.pid) < 4096, `the relay stays under its fd limit (${fdCount(relay.pid)})`);
  const atCap = await probe(relayPort, 3000);
  assert.notEqual(atCap, 'hang', 'at the cap a new client is refused promptly, not left hanging');
  for (const s of held.splice(0, 12_000)) if (!s.destroyed) s.destroy();
  await sleep(500);
  assert.equal(await probe(relayPort, 3000), 'served', 'once connections go, a good client is served');
  assert.equal(relay.proc.exitCode, null, 'the relay is still running');
});

test('UDP flood from 1,000 source ports into a 64-session table: a new client still gets a session and its reply', async (t) => {
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  t.after(() => echo.close());
  const relay = await startUdpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: [{ host: '127.0.0.1', port: echo.address().port }], maxSessions: 64 });
  t.after(() => relay.close());
  const flood: dgram.Socket[] = [];
  t.after(() => {
    for (const s of flood) s.close();
  });
  for (let i = 0; i < 1000; i++) {
    const s = dgram.createSocket('udp4');
    flood.push(s);
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.send('flood', relay.address.port, RELAY_HOST);
  }
  await sleep(300);
  const client = dgram.createSocket('udp4');
  t.after(() => client.close());
  const reply = new Promise<string>((resolve) => client.on('message', (m) => resolve(m.toString())));
  client.send('hello', relay.address.port, RELAY_HOST);
  const got = await Promise.race([reply, sleep(2000).then(() => 'nothing')]);
  assert.equal(got, 'hello');
  const stats = relay.stats();
  assert.ok(stats.sessions <= 64, `the table stays bounded (${stats.sessions})`);
  assert.ok(stats.sessionsOpened > 64, `the flood filled the table (${stats.sessionsOpened} sessions opened)`);
  assert.equal(stats.sessionsEvicted, stats.sessionsOpened - stats.sessions, 'every session past the cap evicted the idlest');
});
