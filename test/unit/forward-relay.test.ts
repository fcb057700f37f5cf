/**
 * The relay library (src/forward/tcp-relay.ts, udp-relay.ts) over real sockets on 127.0.0.0/8:
 * half-close, reset propagation both ways, a down target, failover/round-robin, UDP sessions.
 * The TCP semantics are checked on both data paths: the C one (native-relay.ts, the default on
 * Linux) and the JavaScript fallback; the native one must be present here (built by `npm run build`).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { relayDataPath } from '../../src/forward/native-relay.js';
import { startTcpRelay } from '../../src/forward/tcp-relay.js';
import { startUdpRelay } from '../../src/forward/udp-relay.js';
import { closeServer, connect, freePort, listen, readAll, RELAY_HOST, sleep, tcpStates, waitUntil } from '../support/forward-lab.js';

test('the native data path is built and loads on Linux (scripts/build-native.mjs needs a C compiler)', () => {
  assert.equal(process.platform, 'linux');
  assert.deepEqual(relayDataPath().dataPath, 'native', `the C data path does not load: ${relayDataPath().why} (install gcc and run npm run build)`);
});

for (const dataPath of ['native', 'js'] as const) {
  async function relayTo(targets: number[], opts: { connectTimeoutMs?: number } = {}) {
    return startTcpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: targets.map((port) => ({ host: '127.0.0.1', port })), dataPath, ...opts });
  }

  /** A relay to `server`; both are closed when the test ends. */
  async function relayToServer(t: TestContext, server: net.Server) {
    const relay = await relayTo([await listen(server)]);
    t.after(async () => {
      await relay.close(1000);
      await closeServer(server);
    });
    return relay;
  }

  test(`half-close: a client that sends, shuts its write side and waits still gets the reply [${dataPath}]`, async (t) => {
    // The server answers only after it has seen the client's FIN, like `wc -c` over the network.
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      s.on('end', () => s.end(`received ${Buffer.concat(got).length} bytes: ${Buffer.concat(got).toString()}`));
    });
    const relay = await relayToServer(t, server);
    const c = await connect(relay.address.port, RELAY_HOST, { allowHalfOpen: true });
    const reply = readAll(c);
    c.end('ping');
    const { data, error } = await reply;
    assert.equal(error, null);
    assert.equal(data.toString(), 'received 4 bytes: ping');
  });

  test(`reset by the target is passed to the client as a reset, not a clean end [${dataPath}]`, async (t) => {
    const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const relay = await relayToServer(t, server);
    const c = await connect(relay.address.port);
    const res = readAll(c);
    c.write('x');
    const { error } = await res;
    assert.equal(error?.code, 'ECONNRESET');
    await sleep(50);
    assert.ok(relay.stats().resets >= 1);
    assert.equal(relay.stats().active, 0);
  });

  test(`reset by the client is passed to the target as a reset [${dataPath}]`, async (t) => {
    const serverSaw = new Promise<string>((resolve) => {
      const server = net.createServer((s) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        s.on('end', () => resolve('clean end'));
        s.once('data', () => s.write('ack'));
      });
      t.after(() => closeServer(server));
      void listen(server).then(async (port) => {
        const relay = await relayTo([port]);
        t.after(() => relay.close(1000));
        const c = await connect(relay.address.port);
        c.write('x');
        c.once('data', () => c.resetAndDestroy());
      });
    });
    assert.equal(await serverSaw, 'ECONNRESET');
  });

  test(`a reset after a half-close reaches an idle target: no CLOSE-WAIT left behind, the pair is released [${dataPath}]`, async (t) => {
    // The target never writes and never closes (and, like the relay's own sockets, no longer
    // reads once it saw the FIN): only the relay passing the client's reset on ends its socket.
    const accepted: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      accepted.push(s);
      s.on('end', () => undefined);
      s.on('error', () => undefined);
    });
    // Node no longer watches a socket it doesn't read: the server's close waits for it until destroyed.
    t.after(() => {
      for (const s of accepted) s.destroy();
    });
    const relay = await relayToServer(t, server);
    const serverPort = (server.address() as net.AddressInfo).port;
    const c = await connect(relay.address.port, RELAY_HOST, { allowHalfOpen: true });
    c.on('error', () => undefined);
    c.end();
    assert.ok(await waitUntil(async () => accepted.length === 1, 2000), 'the relay connected to the target');
    const relayPort = (accepted[0] as net.Socket).remotePort as number;
    const states = () => tcpStates(serverPort, relayPort);
    const halfClosed = await waitUntil(async () => (await states()).includes('CLOSE-WAIT'), 5000);
    assert.ok(halfClosed, "the target's socket got the FIN (CLOSE-WAIT)");
    assert.equal(relay.stats().active, 1, 'half-closed: the other direction is still open');
    c.resetAndDestroy();
    const released = await waitUntil(async () => relay.stats().active === 0, 5000);
    assert.ok(released, `the relay still holds the pair 5 s after the reset: ${JSON.stringify(relay.stats())}`);
    const gone = await waitUntil(async () => !(await states()).includes('CLOSE-WAIT'), 2000);
    assert.ok(gone, `the target's socket is still in CLOSE-WAIT: ${(await states()).join(', ')}`);
    assert.ok(relay.stats().resets >= 1);
  });

  test(`a target that is down closes the client promptly (reset), never a hang [${dataPath}]`, async (t) => {
    const deadPort = await freePort();
    const relay = await relayTo([deadPort]);
    t.after(() => relay.close(1000));
    const c = await connect(relay.address.port);
    const { error, data } = await readAll(c);
    assert.equal(data.length, 0);
    assert.equal(error?.code, 'ECONNRESET', 'a reset, not a hang or a clean close');
    assert.equal(relay.stats().connectFailures, 1);
  });

  test(`several targets: round-robin, and a refusing one is skipped (failover) [${dataPath}]`, async (t) => {
    const names = ['a', 'b'];
    const servers = names.map((n) =>
      net.createServer((s) => {
        s.on('error', () => undefined);
        s.end(n);
      }),
    );
    const ports = await Promise.all(servers.map((s) => listen(s)));
    const dead = await freePort();
    const relay = await relayTo([ports[0] as number, dead, ports[1] as number]);
    t.after(async () => {
      await relay.close(1000);
      for (const s of servers) await closeServer(s);
    });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await readAll(await connect(relay.address.port))).data.toString());
    // Starts rotate a, dead→b, b, a, dead→b, b: every connection is served, both targets used.
    assert.deepEqual(seen, ['a', 'b', 'b', 'a', 'b', 'b']);
    assert.equal(relay.stats().connectFailures, 0);
  });

  test(`a target that speaks first (a greeting, as MySQL or SMTP do): nothing is lost at the hand-over [${dataPath}]`, async (t) => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.write('220 hello\n');
      s.on('data', (d: Buffer) => s.end(`echo ${d.toString()}`));
    });
    const relay = await relayToServer(t, server);
    const c = await connect(relay.address.port);
    const reply = readAll(c);
    await sleep(100);
    c.write('hi');
    const { data, error } = await reply;
    assert.equal(error, null);
    assert.equal(data.toString(), '220 hello\necho hi');
  });

  test(`64 MB each way at once arrive intact (sha256) and are counted [${dataPath}]`, async (t) => {
    const size = 64 * 1024 * 1024;
    const up = randomBytes(size);
    const down = randomBytes(size);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => s.end(h.digest('hex')));
      s.write(down);
    });
    const relay = await relayToServer(t, server);
    const c = await connect(relay.address.port, RELAY_HOST, { allowHalfOpen: true });
    const reply = readAll(c);
    c.end(up);
    const { data, error } = await reply;
    assert.equal(error, null);
    const digest = data.subarray(size).toString();
    assert.equal(createHash('sha256').update(data.subarray(0, size)).digest('hex'), createHash('sha256').update(down).digest('hex'));
    assert.equal(digest, createHash('sha256').update(up).digest('hex'));
    await sleep(100);
    const stats = relay.stats();
    assert.equal(stats.bytesToTarget, size);
    assert.equal(stats.bytesToClient, size + digest.length);
    assert.equal(stats.active, 0);
  });
}

test('UDP: one session per client, replies reach the right client, idle sessions expire', async (t) => {
  const server = dgram.createSocket('udp4');
  const sources = new Set<number>();
  server.on('message', (msg, from) => {
    sources.add(from.port);
    server.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  const relay = await startUdpRelay({
    listen: { host: RELAY_HOST, port: 0 },
    targets: [{ host: '127.0.0.1', port: server.address().port }],
    idleTimeoutMs: 300,
  });
  const clients = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  t.after(async () => {
    await relay.close();
    server.close();
    for (const c of clients) c.close();
  });
  const ask = (c: dgram.Socket, text: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP reply within 2 s')), 2000);
      c.once('message', (m, from) => {
        clearTimeout(timer);
        assert.equal(from.address, RELAY_HOST, 'the reply comes from the relay address');
        resolve(m.toString());
      });
      c.send(text, relay.address.port, RELAY_HOST);
    });
  assert.equal(await ask(clients[0] as dgram.Socket, 'one'), 'echo:one');
  assert.equal(await ask(clients[1] as dgram.Socket, 'two'), 'echo:two');
  assert.equal(await ask(clients[0] as dgram.Socket, 'three'), 'echo:three');
  assert.equal(relay.stats().sessions, 2);
  assert.equal(sources.size, 2, 'one upstream socket per client');
  await sleep(800);
  assert.equal(relay.stats().sessions, 0, 'idle sessions closed');
  assert.equal(relay.stats().sessionsExpired, 2);
  assert.equal(await ask(clients[0] as dgram.Socket, 'again'), 'echo:again');
  assert.equal(relay.stats().sessionsOpened, 3);
});
