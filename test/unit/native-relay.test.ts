/**
 * The C data path (src/native/relay.c) through its own interface — start, adopt, resetGroup —
 * with sockets whose kernel buffers tell exactly what was delivered: Unix stream sockets keep
 * what was written to them readable after the writer closes, so the bytes a pair reports can be
 * compared with the bytes the target really got. A build with fault injection (RELAY_FAULTS,
 * compiled here) checks that a pair's end is reported when no memory can be had, and worker
 * threads check that the relay's state goes with the environment that started it.
 * Traffic stays on Unix sockets in a temp folder and on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { closeServer, listen, repoDir, sleep, waitUntil } from '../support/forward-lab.js';

interface Addon {
  start(onEnded: (group: number, toTarget: number, toClient: number, reset: boolean) => void): void;
  adopt(group: number, clientFd: number, targetFd: number): void;
  resetGroup(group: number): void;
  failAllocations?(on: boolean): void;
}

const require = createRequire(import.meta.url);
const BUILT = join(repoDir(), 'dist', 'cli', `relay-linux-${process.arch}.node`);

/** relay.c built with RELAY_FAULTS into `dir` (the shipped build has no fault injection). */
function buildFaulty(dir: string): string {
  const include = join(dirname(require.resolve('node-api-headers/package.json')), 'include');
  const out = join(dir, 'relay-faults.node');
  const cc = spawnSync(
    process.env['CC'] || 'cc',
    ['-O2', '-DRELAY_FAULTS', '-shared', '-fPIC', `-I${include}`, join(repoDir(), 'src/native/relay.c'), '-o', out, '-lpthread'],
    { encoding: 'utf8' },
  );
  assert.equal(cc.status, 0, `cc failed: ${cc.stderr}`);
  return out;
}

type Ended = { toTarget: number; toClient: number; reset: boolean };

/** One started addon per test file: ends are dispatched to the group that asked. */
function dispatcher(addon: Addon): { wait(group: number): Promise<Ended>; next(): number } {
  const waiting = new Map<number, (e: Ended) => void>();
  const early = new Map<number, Ended>();
  addon.start((group, toTarget, toClient, reset) => {
    const e = { toTarget, toClient, reset };
    const w = waiting.get(group);
    if (w) w(e);
    else early.set(group, e);
  });
  let group = 1;
  return {
    next: () => group++,
    wait: (g) =>
      new Promise((resolve) => {
        const e = early.get(g);
        if (e) resolve(e);
        else waiting.set(g, resolve);
      }),
  };
}

const fdOf = (s: net.Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd;

/**
 * A relayed pair over Unix sockets in `dir`: `client` talks to the relay's client side,
 * `target` is the far end of its target side. The relay's two sockets are adopted by `addon`
 * (and Node's own descriptors closed, as native-relay.ts does).
 */
async function unixPair(t: TestContext, dir: string, addon: Addon, group: number): Promise<{ client: net.Socket; target: net.Socket }> {
  const accepted = (path: string) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const first = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    // Not awaited: a server's close waits for its connections, which the test's own clean-up ends.
    t.after(() => void server.close());
    return { listening: new Promise<void>((r) => server.listen(path, () => r())), first };
  };
  const front = accepted(join(dir, `front-${group}`));
  const back = accepted(join(dir, `back-${group}`));
  await Promise.all([front.listening, back.listening]);
  const client = net.connect({ path: join(dir, `front-${group}`), allowHalfOpen: true });
  const relayTarget = net.connect({ path: join(dir, `back-${group}`), allowHalfOpen: true });
  await Promise.all([new Promise((r) => client.once('connect', r)), new Promise((r) => relayTarget.once('connect', r))]);
  const relayClient = await front.first;
  const target = await back.first;
  addon.adopt(group, fdOf(relayClient), fdOf(relayTarget));
  relayClient.destroy();
  relayTarget.destroy();
  for (const s of [client, target]) s.on('error', () => undefined);
  t.after(() => {
    client.destroy();
    target.destroy();
  });
  return { client, target };
}

/** Reads `s` to its end; resolves with the byte count. */
function drain(s: net.Socket): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    s.on('data', (b: Buffer) => (n += b.length));
    s.once('end', () => resolve(n));
    s.once('close', () => resolve(n));
    s.resume();
  });
}

test('bytes reported are those delivered to the other socket, not those read: a reset with a chunk still held counts only what was written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-native-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const addon = require(BUILT) as Addon;
  const relay = dispatcher(addon);
  const group = relay.next();
  const { client, target } = await unixPair(t, dir, addon, group);
  // The target reads nothing yet: the relay fills its socket, then holds what it read and could not write.
  client.write(Buffer.alloc(8 * 1024 * 1024, 1));
  await sleep(500);
  addon.resetGroup(group);
  const ended = await relay.wait(group);
  const delivered = await drain(target);
  t.diagnostic(`reported ${ended.toTarget} bytes to the target; it received ${delivered}`);
  assert.equal(ended.reset, true);
  assert.ok(delivered > 0, 'the target got bytes before the reset');
  assert.equal(ended.toTarget, delivered, 'the report counts the bytes the target got, no more');
});

test('a pair ending while no memory can be had is still reported (its record is made when it is adopted)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-native-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const addon = require(buildFaulty(dir)) as Addon;
  const relay = dispatcher(addon);
  const group = relay.next();
  const { client, target } = await unixPair(t, dir, addon, group);
  const got = drain(target);
  client.write('hello');
  await sleep(200);
  addon.failAllocations?.(true);
  t.after(() => addon.failAllocations?.(false));
  client.end();
  target.end();
  const ended = await Promise.race([relay.wait(group), sleep(3000).then(() => null)]);
  addon.failAllocations?.(false);
  assert.ok(ended, 'the end of the pair was reported');
  assert.deepEqual(ended, { toTarget: 5, toClient: 0, reset: false });
  assert.equal(await got, 5);
});

/** Runs in a worker thread: starts the addon, relays one TCP pair between two ports of the main thread, reports. */
const WORKER_JS = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const addon = require(workerData.addon);
addon.start(() => {});
const a = net.connect(workerData.clientPort, '127.0.0.1');
const b = net.connect(workerData.targetPort, '127.0.0.1');
let n = 0;
const go = () => {
  if (++n < 2) return;
  addon.adopt(1, a._handle.fd, b._handle.fd);
  a.destroy();
  b.destroy();
  parentPort.postMessage('adopted');
};
a.once('connect', go);
b.once('connect', go);
// The pairs live in native threads only (the relay's callback is unref'd): this keeps the worker until the test ends it.
setInterval(() => {}, 1 << 30);
`;

test("the relay's state belongs to the thread that started it: a worker's end resets its pairs, and a new worker starts its own", async (t) => {
  // Two servers stand for a client and a target; the worker relays between its connections to them.
  const ends: string[] = [];
  const sockets: net.Socket[] = [];
  const clients: net.Socket[] = [];
  const server = (name: string) =>
    net.createServer((s) => {
      sockets.push(s);
      if (name === 'client') clients.push(s);
      s.on('data', (d: Buffer) => ends.push(`${name} got ${d.toString()}`));
      s.on('error', (e: NodeJS.ErrnoException) => ends.push(`${name} ${e.code}`));
      s.on('end', () => ends.push(`${name} end`));
    });
  const clientSide = server('client');
  const targetSide = server('target');
  const [clientPort, targetPort] = [await listen(clientSide), await listen(targetSide)];
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(clientSide);
    await closeServer(targetSide);
  });
  const runWorker = async () => {
    const w = new Worker(WORKER_JS, { eval: true, workerData: { addon: BUILT, clientPort, targetPort } });
    const message = await new Promise<string>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    return { w, message };
  };

  const first = await runWorker();
  assert.equal(first.message, 'adopted');
  await waitUntil(async () => sockets.length === 2, 2000);
  (clients[0] as net.Socket).write('ping');
  assert.ok(await waitUntil(async () => ends.includes('target got ping'), 2000), `relayed while the worker runs: ${ends.join('; ')}`);
  await first.w.terminate();
  assert.ok(
    await waitUntil(async () => ends.includes('client ECONNRESET') && ends.includes('target ECONNRESET'), 3000),
    `both peers see the relay go (reset) when its thread ends: ${ends.join('; ')}`,
  );

  ends.length = 0;
  const second = await runWorker();
  t.after(() => second.w.terminate());
  assert.equal(second.message, 'adopted', 'a new worker starts its own relay');
  await waitUntil(async () => sockets.length === 4, 2000);
  (clients[1] as net.Socket).write('again');
  assert.ok(await waitUntil(async () => ends.includes('target got again'), 2000), `the second worker relays: ${ends.join('; ')}`);
});

test('listeners(): TCP listeners and bound UDP sockets of this namespace, both families, from sock_diag; connected sockets are not listed', async (t) => {
  const addon = require(BUILT) as Addon & { listeners(): Array<[string, string, number]> };
  const tcp6 = net.createServer();
  const tcp4 = net.createServer();
  const port6 = await listen(tcp6, '::1');
  const port4 = await listen(tcp4, '127.0.0.1');
  const udp = (await import('node:dgram')).createSocket('udp6');
  await new Promise<void>((r) => udp.bind(0, '::1', () => r()));
  const client = net.connect(port4, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  t.after(async () => {
    client.destroy();
    udp.close();
    await closeServer(tcp6);
    await closeServer(tcp4);
  });
  const all = addon.listeners();
  const has = (proto: string, address: string, port: number) => all.some(([p, a, n]) => p === proto && a === address && n === port);
  assert.ok(has('tcp', '::1', port6), `[::1]:${port6} listed`);
  assert.ok(has('tcp', '127.0.0.1', port4), `127.0.0.1:${port4} listed`);
  assert.ok(has('udp', '::1', udp.address().port), 'the bound UDP socket is listed');
  assert.ok(!all.some(([p, , n]) => p === 'tcp' && n === (client.localPort as number)), "the client's connected socket is not");
});
