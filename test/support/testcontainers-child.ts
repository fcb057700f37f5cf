/**
 * The "test process" of test/e2e/testcontainers.test.ts, run inside a lab namespace
 * (nsenter --net) so its servers, its relays and the alias all live there. It uses the package's
 * real subpath export (`hostalias/testcontainers`, a self-reference resolved through package.json
 * "exports") and real Testcontainers against the lab dockerd (DOCKER_HOST, no Ryuk, imported image).
 * It prints one JSON line per observation; the parent asserts on them. Run on Node 22 with
 * test/support/testcontainers-select.js, its bare `testcontainers` imports (and the library's)
 * load Testcontainers 12 (see test/support/testcontainers-runtimes.ts); the first line says which
 * Node and which Testcontainers really ran.
 *
 *   node testcontainers-child.js scenario ROOT IMAGE
 *   node testcontainers-child.js no-alias
 *   node testcontainers-child.js fallback IMAGE     (SSHD_CONTAINER_IMAGE names the sshd image)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { exposeHostPorts, openHostPorts, type HostPorts } from 'hostalias/testcontainers';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';

const report = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function httpServer(host: string, body: string): Promise<{ port: number; close(): Promise<void> }> {
  const srv = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => srv.listen({ host, port: 0 }, () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

async function udpEcho(host: string): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  s.on('message', (m, r) => s.send(`udp:${m.toString()}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return { port: s.address().port, close: () => s.close() };
}

/** Which Node runs this, and the version of the `testcontainers` package a bare import loads here. */
function reportRuntime(): void {
  const pkg = new URL('../package.json', import.meta.resolve('testcontainers'));
  const { name, version } = JSON.parse(readFileSync(pkg, 'utf8')) as { name: string; version: string };
  report({ step: 'runtime', node: process.versions.node, testcontainers: `${name}@${version}`, path: pkg.pathname });
}

/**
 * An HTTP GET from inside the container (busybox nc; Debian's static busybox wget crashes in a
 * minimal rootfs). The body, or FAIL:<why>.
 */
async function fetchIn(c: StartedTestContainer, name: string, port: number): Promise<string> {
  const r = await c.exec(['sh', '-c', `printf 'GET / HTTP/1.0\\r\\nHost: ${name}\\r\\n\\r\\n' | nc -w 5 ${name} ${port}`]);
  const i = r.output.indexOf('\r\n\r\n');
  return r.exitCode === 0 && i >= 0 ? r.output.slice(i + 4).trim() : `FAIL:${r.exitCode}:${r.output.trim().slice(0, 80)}`;
}

function run(argv: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', (code) => resolve({ code, out: out.trim() }));
  });
}

const UDP_ASK = `const s=require('node:dgram').createSocket('udp4');s.on('message',(m)=>{process.stdout.write(m);process.exit(0)});s.send('hi',Number(process.argv[2]),process.argv[1]);setTimeout(()=>process.exit(1),3000)`;

/** A datagram from the container's own network namespace to ip:port; the reply or ''. */
async function udpFromContainer(c: StartedTestContainer, ip: string, port: number): Promise<string> {
  const pid = (await run(['docker', 'inspect', '--format', '{{.State.Pid}}', c.getId()])).out;
  return (await run(['nsenter', `--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', UDP_ASK, ip, String(port)])).out;
}

/** Can this process bind ip:port/tcp now? (The relay let go of it.) */
function canBind(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: ip, port }, () => s.close(() => resolve(true)));
  });
}

async function scenario(root: string, image: string): Promise<void> {
  const v4 = await httpServer('127.0.0.1', 'hello-v4');
  const v6 = await httpServer('::1', 'hello-v6');
  const echo = await udpEcho('::1');
  // Node's default listen(port): every address, the alias included, so no relay is needed.
  const any = await httpServer('::', 'hello-any');
  let container: StartedTestContainer | undefined;
  try {
    const started = Date.now();
    let host: HostPorts;
    {
      await using scoped = await openHostPorts({ filesRoot: root });
      host = scoped;
      await scoped.expose(v4.port, v6.port, `${echo.port}/udp`, `${any.port}/tcp`);
      report({
        step: 'exposed',
        ms: Date.now() - started,
        mode: scoped.mode,
        ip: scoped.ip,
        names: scoped.names,
        extraHosts: scoped.extraHosts,
        ports: scoped.ports,
      });

      container = await new GenericContainer(image).withCommand(['sleep', '300']).withExtraHosts(scoped.extraHosts).start();
      report({ step: 'container', label: container.getLabels()['org.testcontainers.version'] });
      const urls: Record<string, string> = {};
      for (const name of scoped.names) {
        urls[`${name} v4`] = await fetchIn(container, name, v4.port);
        urls[`${name} v6`] = await fetchIn(container, name, v6.port);
      }
      urls['any'] = await fetchIn(container, 'host.testcontainers.internal', any.port);
      report({ step: 'http', urls, anyPort: any.port });
      const hosts = await container.exec(['cat', '/etc/hosts']);
      const line = hosts.output.split('\n').find((l) => l.includes('host.testcontainers.internal')) ?? '';
      const nameIp = line.trim().split(/\s+/)[0] ?? '';
      report({ step: 'udp', nameIp, reply: await udpFromContainer(container, nameIp, echo.port) });

      // A port opened after the container started: refused first (negative control), then reachable.
      const late = await httpServer('127.0.0.1', 'hello-late');
      const before = await fetchIn(container, 'host.testcontainers.internal', late.port);
      await scoped.expose(late.port);
      const after = await fetchIn(container, 'local_host', late.port);
      report({ step: 'late', before, after });
      await late.close();
      report({ step: 'bound-while-open', v4: await canBind(scoped.ip ?? '', v4.port) });
    }
    // `await using` has disposed the handle here.
    report({
      step: 'disposed',
      ports: host.ports.length,
      free: await canBind(host.ip ?? '', v4.port),
      fetchAfter: await fetchIn(container, 'host.testcontainers.internal', v4.port),
      exposeAfter: await host.expose(v4.port).then(
        () => 'exposed',
        (e: { code?: string }) => e.code,
      ),
    });
  } finally {
    await container?.stop({ timeout: 0 });
    await v4.close();
    await v6.close();
    await any.close();
    echo.close();
  }
  report({ step: 'done' });
}

async function noAlias(): Promise<void> {
  const started = Date.now();
  try {
    const host = await exposeHostPorts(18080);
    await host.close();
    report({ step: 'no-alias', error: null, ms: Date.now() - started });
  } catch (err) {
    const e = err as { code?: string; message: string; fix?: string };
    report({ step: 'no-alias', error: { code: e.code, message: e.message, fix: e.fix }, ms: Date.now() - started });
  }
  report({ step: 'done' });
}

/** No alias, fallback asked for: Testcontainers' own tunnel carries the port. */
async function fallback(image: string): Promise<void> {
  const srv = await httpServer('127.0.0.1', 'hello-fallback');
  const started = Date.now();
  const host = await openHostPorts({ fallback: 'testcontainers' });
  let udpError: unknown = null;
  await host.expose('5353/udp').catch((e: unknown) => (udpError = e));
  await host.expose(srv.port);
  const container = await new GenericContainer(image).withCommand(['sleep', '300']).withExtraHosts(host.extraHosts).start();
  try {
    report({
      step: 'fallback',
      mode: host.mode,
      ports: host.ports,
      extraHosts: host.extraHosts,
      udpError: (udpError as { code?: string } | null)?.code ?? null,
      reply: await fetchIn(container, 'host.testcontainers.internal', srv.port),
      ms: Date.now() - started,
    });
  } finally {
    await container.stop({ timeout: 0 });
    await host.close();
    await srv.close();
  }
  report({ step: 'done' });
  // Testcontainers' SSH client may still hold its socket open.
  process.exit(0);
}

const [mode, root, image] = process.argv.slice(2);
reportRuntime();
if (mode === 'scenario') await scenario(root ?? '/', image ?? '');
else if (mode === 'fallback') await fallback(root ?? '');
else await noAlias();
