/**
 * The test process of `npm run bench:testcontainers`, run inside the lab namespace: it serves
 * HTTP on 127.0.0.1, exposes the port with hostalias (`hostalias/testcontainers`) or with
 * Testcontainers' own `TestContainers.exposeHostPorts` (its sshd image from SSHD_CONTAINER_IMAGE),
 * starts a container and measures. One mode per process: Testcontainers keeps its tunnel for
 * the life of the process, so a fresh set-up needs a fresh process. The bench runs it on each
 * Node / Testcontainers pair of test/support/testcontainers-runtimes.ts.
 *   node testcontainers-child.js setup|load hostalias|direct|testcontainers FILES_ROOT IMAGE
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { GenericContainer, TestContainers, type StartedTestContainer } from 'testcontainers';

const [what, mode, filesRoot = '/', image = ''] = process.argv.slice(2);
const LOAD = join(dirname(fileURLToPath(import.meta.url)), 'http-load.js');
const BIG = 100 * 1000 * 1000;
const CHUNK = Buffer.alloc(1 << 20, 120);

/**
 * BENCH_TRACE=1: every message of Testcontainers' own debug log ('testcontainers' namespace only:
 * the container-log namespaces would attach log streams) with its time, plus our marks, so the
 * bench can say where the set-up time goes. Off by default: the figures come from untraced runs.
 */
const events: Array<{ ms: number; what: string }> = [];
const mark = (what: string): void => void (process.env['BENCH_TRACE'] === '1' && events.push({ ms: performance.now(), what }));
if (process.env['BENCH_TRACE'] === '1') {
  const debug = createRequire(import.meta.url)('debug') as { enable(ns: string): void; log: (...args: unknown[]) => void };
  debug.enable('testcontainers');
  debug.log = (line: unknown) => mark(String(line).replace(/^.*?testcontainers (\[\w+\] )?/, ''));
}

function serve(host: string): Promise<{ port: number; close(): void }> {
  const srv = http.createServer((req, res) => {
    if (req.url !== '/big') return void res.end('ok');
    res.writeHead(200, { 'content-length': String(BIG) });
    let left = BIG;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  return new Promise((resolve) => srv.listen({ host, port: 0 }, () => resolve({ port: (srv.address() as net.AddressInfo).port, close: () => srv.close() })));
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

async function firstAnswer(c: StartedTestContainer, port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    mark('request: exec nc');
    const r = await c.exec(['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 host.testcontainers.internal ${port}`]);
    mark(`request: exec done, exit ${r.exitCode}`);
    if (r.exitCode === 0 && r.output.endsWith('ok')) return;
    if (Date.now() > deadline) throw new Error(`no answer from the host within 60 s: ${r.output}`);
  }
}

async function main(): Promise<void> {
  // 'direct': the server listens on every address, so the alias reaches it with no relay (the ceiling).
  const server = await serve(mode === 'direct' ? '::' : '127.0.0.1');
  const t0 = performance.now();
  mark('t0');
  let close = async (): Promise<void> => undefined;
  let extraHosts: Array<{ host: string; ipAddress: string }> = [];
  if (mode === 'hostalias' || mode === 'direct') {
    // Imported inside the timed span: only our side needs a second module (Testcontainers' own
    // exposeHostPorts is in the module both sides import to start the container anyway).
    const { openHostPorts } = await import('hostalias/testcontainers');
    mark('imported');
    const host = await openHostPorts({ filesRoot });
    mark('opened');
    await host.expose(`${server.port}/tcp`);
    extraHosts = host.extraHosts;
    close = () => host.close();
  } else {
    await TestContainers.exposeHostPorts(server.port);
  }
  const exposeMs = performance.now() - t0;
  mark('expose done');
  const container = await new GenericContainer(image).withCommand(['sleep', '600']).withExtraHosts(extraHosts).start();
  mark('container started');
  await firstAnswer(container, server.port);
  const firstMs = performance.now() - t0;
  mark('first answer');
  let load: Record<string, number> = {};
  if (what === 'load') {
    const hosts = (await container.exec(['cat', '/etc/hosts'])).output;
    const ip =
      hosts
        .split('\n')
        .find((l) => l.includes('host.testcontainers.internal'))
        ?.trim()
        .split(/\s+/)[0] ?? '';
    const pid = await run(['docker', 'inspect', '--format', '{{.State.Pid}}', container.getId()]);
    load = JSON.parse(
      await run([
        'nsenter',
        `--net=/proc/${pid}/ns/net`,
        '--',
        process.env['BENCH_CLIENT_NODE'] ?? process.execPath,
        LOAD,
        ip,
        String(server.port),
        process.env['BENCH_REQUESTS'] ?? '2000',
        process.env['BENCH_DOWNLOADS'] ?? '5',
      ]),
    ) as Record<string, number>;
  }
  await container.stop({ timeout: 0 });
  await close();
  server.close();
  const trace = events.length > 0 ? { trace: events.map((e) => ({ ms: Math.round((e.ms - t0) * 10) / 10, what: e.what })) } : {};
  // Which Testcontainers a bare import loads here (11, or 12 through test/support/testcontainers-select.js).
  const tc = JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('testcontainers')), 'utf8')) as { version: string };
  process.stdout.write(`${JSON.stringify({ mode, exposeMs, firstMs, ...load, ...trace, node: process.versions.node, testcontainers: tc.version })}\n`);
  // Testcontainers' SSH connection is unref'd, but its client may hold sockets: leave now.
  process.exit(0);
}

await main();
