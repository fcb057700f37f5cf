/**
 * loopbackTargets + the 'sticky' order (src/forward/targets.ts): a relay reaches a service on
 * 127.0.0.1 or on ::1, whichever it listens on, over TCP and UDP, and keeps using the family
 * that answered. Real sockets on 127.0.0.0/8 and ::1 only.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';
import { startTcpRelay } from '../../src/forward/tcp-relay.js';
import { loopbackTargets, targetPicker } from '../../src/forward/targets.js';
import { startUdpRelay } from '../../src/forward/udp-relay.js';
import { closeServer, connect, freePort, listen, readAll, RELAY_HOST } from '../support/forward-lab.js';

test('targetPicker: round-robin rotates; sticky starts where the last answer came from', () => {
  const rr = targetPicker(2, 'round-robin');
  assert.deepEqual([rr.first(), rr.first(), rr.first()], [0, 1, 0]);
  const sticky = targetPicker(2, 'sticky');
  assert.deepEqual([sticky.first(), sticky.first()], [0, 0]);
  sticky.answered(1);
  assert.deepEqual([sticky.first(), sticky.first()], [1, 1]);
});

for (const host of ['127.0.0.1', '::1']) {
  test(`TCP: a service on ${host} only is reached through loopbackTargets, every time`, async (t) => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.end(`from ${s.localAddress}`);
    });
    const port = await listen(server, host);
    const relay = await startTcpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: loopbackTargets(port), order: 'sticky' });
    t.after(async () => {
      await relay.close(1000);
      await closeServer(server);
    });
    for (let i = 0; i < 4; i++) assert.equal((await readAll(await connect(relay.address.port))).data.toString(), `from ${host}`);
    assert.equal(relay.stats().connectFailures, 0);
  });

  test(`UDP: a service on ${host} only answers through loopbackTargets (refusal moves the session)`, async (t) => {
    const server = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
    server.on('message', (m, r) => server.send(Buffer.concat([Buffer.from(`${host}:`), m]), r.port, r.address));
    await new Promise<void>((r) => server.bind(0, host, () => r()));
    // Nothing may listen on the other family's same port, or the test proves nothing.
    const relay = await startUdpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: loopbackTargets(server.address().port), order: 'sticky' });
    const clients = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    t.after(async () => {
      await relay.close();
      server.close();
      for (const c of clients) c.close();
    });
    const ask = (c: dgram.Socket, text: string) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no UDP reply within 2 s')), 2000);
        c.once('message', (m) => {
          clearTimeout(timer);
          resolve(m.toString());
        });
        c.send(text, relay.address.port, RELAY_HOST);
      });
    assert.equal(await ask(clients[0] as dgram.Socket, 'one'), `${host}:one`);
    assert.equal(await ask(clients[0] as dgram.Socket, 'two'), `${host}:two`);
    assert.equal(await ask(clients[1] as dgram.Socket, 'three'), `${host}:three`, 'a new session starts at the family that answered');
  });
}

test('TCP: nothing on either family resets the client promptly (negative control)', async (t) => {
  const port = await freePort();
  const relay = await startTcpRelay({ listen: { host: RELAY_HOST, port: 0 }, targets: loopbackTargets(port), order: 'sticky' });
  t.after(() => relay.close(1000));
  // A reset (not a hang): the client's read ends with ECONNRESET, not with the test's timeout.
  const { data, error } = await readAll(await connect(relay.address.port));
  assert.equal(data.length, 0);
  assert.equal(error?.code, 'ECONNRESET');
  assert.equal(relay.stats().connectFailures, 1);
});
