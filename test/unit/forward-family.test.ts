/**
 * A relay given the loopback pair [127.0.0.1:P, [::1]:P] reaches a service on either
 * family and follows it when it restarts on the other one. Real sockets on 127.0.0.0/8 and ::1;
 * the relay listens on 127.0.0.2 (the stand-in for the alias).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import { loopbackTargets } from '../../src/forward/targets.js';
import { startTcpRelay } from '../../src/forward/tcp-relay.js';
import { startUdpRelay } from '../../src/forward/udp-relay.js';
import { closeServer, connect, listen, readAll, RELAY_HOST, rssKb, spawnRelay, withChildren } from '../support/forward-lab.js';

/** A port free on 127.0.0.1 and on ::1, held by a ::1 server. */
async function v6Server(reply: string): Promise<{ server: net.Server; port: number }> {
  for (;;) {
    const server = net.createServer((s) => s.end(reply));
    const port = await listen(server, '::1');
    const probe = net.createServer();
    const free = await listen(probe, '127.0.0.1', port).then(
      () => true,
      () => false,
    );
    if (free) await closeServer(probe);
    if (free) return { server, port };
    await closeServer(server);
  }
}

test('TCP: the loopback pair reaches a ::1-only server, and follows it to 127.0.0.1 after a restart', async (t) => {
  const { server, port } = await v6Server('from-v6');
  const relay = await startTcpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: loopbackTargets(port), order: 'sticky' });
  let v4: net.Server | null = null;
  t.after(async () => {
    await relay.close(1000);
    if (server.listening) await closeServer(server);
    if (v4) await closeServer(v4);
  });
  const ask = async () => (await readAll(await connect(relay.address.port, RELAY_HOST))).data.toString();
  for (let i = 0; i < 4; i++) assert.equal(await ask(), 'from-v6', `connection ${i}`);
  assert.equal(relay.stats().connectFailures, 0, 'no client saw the refusal on 127.0.0.1');

  await closeServer(server);
  v4 = net.createServer((s) => s.end('from-v4'));
  await listen(v4, '127.0.0.1', port);
  for (let i = 0; i < 4; i++) assert.equal(await ask(), 'from-v4', `after the restart, connection ${i}`);
  assert.equal(relay.stats().connectFailures, 0);

  // Negative control: with nothing on either family the client is reset, never hangs.
  await closeServer(v4);
  v4 = null;
  const { error } = await readAll(await connect(relay.address.port, RELAY_HOST));
  assert.equal(error?.code, 'ECONNRESET');
  assert.equal(relay.stats().connectFailures, 1);
});

test('UDP: the loopback pair finds a ::1-only server (ICMP refusal on 127.0.0.1) and follows a restart', async (t) => {
  const echo = (type: 'udp4' | 'udp6', tag: string, port: number) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const s = dgram.createSocket(type);
      s.on('message', (m, from) => s.send(`${tag}:${m.toString()}`, from.port, from.address));
      s.once('error', reject);
      s.bind(port, type === 'udp6' ? '::1' : '127.0.0.1', () => resolve(s));
    });
  let v6 = await echo('udp6', 'v6', 0);
  const port = v6.address().port;
  const relay = await startUdpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: loopbackTargets(port), order: 'sticky' });
  const clients: dgram.Socket[] = [];
  let v4: dgram.Socket | null = null;
  t.after(async () => {
    await relay.close();
    for (const s of [v6, v4, ...clients]) {
      try {
        s?.close();
      } catch {
        // already closed
      }
    }
  });
  const ask = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const c = dgram.createSocket('udp4');
      clients.push(c);
      const timer = setTimeout(() => reject(new Error(`no UDP reply to ${text} within 3 s`)), 3000);
      c.once('message', (m) => {
        clearTimeout(timer);
        resolve(m.toString());
      });
      c.send(text, relay.address.port, RELAY_HOST);
    });
  assert.equal(await ask('a'), 'v6:a', 'the refused datagram was sent again to ::1');
  assert.equal(await ask('b'), 'v6:b');
  v6.close();
  v4 = await echo('udp4', 'v4', port);
  assert.equal(await ask('c'), 'v4:c', 'a new session after the restart finds 127.0.0.1');
  v4.close();
  v4 = null;
  v6 = await echo('udp6', 'v6', port);
  assert.equal(await ask('d'), 'v6:d', 'and back');
});

test('a relay sized for a dev server: one process by default, at most 60 MB RSS at rest', async (t) => {
  const { server, port } = await v6Server('ok');
  const relay = await spawnRelay(port);
  t.after(async () => {
    await relay.kill();
    await closeServer(server);
  });
  const listening = JSON.parse(relay.lines.find((l) => l.includes('"listening"')) ?? '{}') as { workers: number; targets: unknown[] };
  assert.equal(listening.workers, 1);
  assert.deepEqual(listening.targets, loopbackTargets(port), 'no --to: the loopback pair');
  assert.deepEqual(withChildren(relay.pid), [relay.pid], 'no worker processes');
  assert.equal((await readAll(await connect(port, RELAY_HOST))).data.toString(), 'ok');
  await new Promise((r) => setTimeout(r, 3000));
  const mb = rssKb(relay.pid) / 1024;
  t.diagnostic(`relay RSS at rest: ${mb.toFixed(1)} MB`);
  assert.ok(mb <= 60, `relay RSS ${mb.toFixed(1)} MB`);
});
