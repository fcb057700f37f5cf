/**
 * Child process for the "10k concurrent connections" test: runs a server on 127.0.0.1 and/or holds
 * N client connections through the relay at once (so the test process itself needs few fds).
 * `node forward-load-child.js N [both|server|client]`: server and client may run in two processes,
 * each then holding N fds, which keeps N = 10000 under a 20000 per-process fd limit.
 * Protocol on stdout/stdin, one JSON line each:
 *   → {"port":P}            server listening (start the relay on P); a client alone says {"port":0}
 *   ← "open <relayPort>"     open N connections through 127.0.0.2:<relayPort>, each answered
 *   → {"open":N,"failed":F}  all N are open and answered end to end
 *   ← "close"                close them all
 *   → {"closed":N}
 */
import net from 'node:net';
import { createInterface } from 'node:readline';

const n = Number(process.argv[2] ?? '10000');
const role = process.argv[3] ?? 'both';
const held: net.Socket[] = [];
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => undefined);
  s.on('data', () => s.write('y'));
  s.on('end', () => s.end());
});
server.maxConnections = n + 100;

function openOne(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.2', port });
    c.setTimeout(30_000, () => c.destroy(new Error('timeout')));
    c.on('error', () => resolve(false));
    c.once('data', () => {
      c.setTimeout(0);
      held.push(c);
      resolve(true);
    });
    c.write('x');
  });
}

async function openAll(port: number): Promise<void> {
  let failed = 0;
  let next = 0;
  // Bounded in-flight connects: the listen backlog (4096) must never overflow.
  const lane = async () => {
    while (next < n) {
      next++;
      if (!(await openOne(port))) failed++;
    }
  };
  await Promise.all(Array.from({ length: 256 }, lane));
  process.stdout.write(`${JSON.stringify({ open: held.length, failed })}\n`);
}

async function closeAll(): Promise<void> {
  const closed = held.map((c) => new Promise<void>((r) => (c.closed ? r() : c.once('close', () => r()))));
  for (const c of held) c.end();
  await Promise.all(closed);
  process.stdout.write(`${JSON.stringify({ closed: held.length })}\n`);
  held.length = 0;
}

if (role === 'client') process.stdout.write(`${JSON.stringify({ port: 0 })}\n`);
else {
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
}
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'open') void openAll(Number(arg));
  else if (cmd === 'close') void closeAll();
  else if (cmd === 'exit') process.exit(0);
});
process.stdin.on('end', () => process.exit(0));
