/**
 * `hostalias/testcontainers` end to end: real Testcontainers from npm against a real
 * dockerd in a lab namespace, the alias added there by `up`, and the "test process"
 * (test/support/testcontainers-child.ts) run inside the namespace, so its servers on 127.0.0.1
 * and ::1, its relays and the containers all live there. All traffic stays in namespaces this
 * file creates. Every test runs once per Testcontainers version (test/support/testcontainers-runtimes.ts:
 * 11 on the Node running the tests, 12 on Node 22 from the npm registry), and checks which ran.
 */
import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { buildBusyboxImage, startDockerd, type Dockerd } from '../lab/dockerd.js';
import { onLines } from '../lab/exec.js';
import { repoRoot, runCli, withNetns, type Netns } from '../lab/netns.js';
import { buildAlpineStandIn, buildSshdImage } from '../lab/debian-images.js';
import { tempRoot } from '../support/e2e.js';
import { node22, testcontainersRuntimes, type TestcontainersRuntime } from '../support/testcontainers-runtimes.js';

const ALIAS = '10.254.254.254';
const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'testcontainers-child.js');

type Line = Record<string, unknown> & { step: string };

/** Runs the child inside `ns` on `rt`; resolves with its JSON lines once it exits (bounded). */
function runChild(
  rt: TestcontainersRuntime,
  ns: Netns,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  const child = ns.spawn([...rt.argv(), CHILD, ...args], { env: { ...env, ...rt.env, TESTCONTAINERS_RYUK_DISABLED: 'true' } });
  const lines: Line[] = [];
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  onLines(child.stdout, (l) => {
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      stderr += `${l}\n`;
    }
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, lines, stderr });
    });
  });
}

function step(lines: Line[], name: string): Line {
  const l = lines.find((x) => x.step === name);
  assert.ok(l, `the child reported "${name}" (got ${lines.map((x) => x.step).join(', ')})`);
  return l;
}

/** The child ran on the Node and the Testcontainers `rt` names (not silently on the host's). */
function assertRuntime(lines: Line[], rt: TestcontainersRuntime): void {
  const r = step(lines, 'runtime');
  assert.equal(String(r.node).split('.')[0], String(rt.nodeMajor), `${rt.label}: ran on Node ${String(r.node)}`);
  assert.match(String(r.testcontainers), new RegExp(`^testcontainers@${rt.testcontainersMajor}\\.`), `${rt.label}: loaded ${String(r.path)}`);
}

/** The Testcontainers version that created containers since `since` (its own label), from dockerd's event log. */
async function createdBy(d: Dockerd, since: string): Promise<string[]> {
  const r = await d.docker([
    'events',
    '--since',
    since,
    '--until',
    String(Math.ceil(Date.now() / 1000)),
    '--filter',
    'type=container',
    '--filter',
    'event=create',
    '--format',
    '{{index .Actor.Attributes "org.testcontainers.version"}}',
  ]);
  return r.stdout.split('\n').filter((l) => l !== '');
}

async function labDocker(t: Parameters<typeof withNetns>[0], tag: string): Promise<{ ns: Netns; d: Dockerd; image: string }> {
  const ns = await withNetns(t, tag);
  const d = await startDockerd(ns);
  t.after(() => d.stop());
  return { ns, d, image: await buildBusyboxImage(d) };
}

test('testcontainers: the suite runs on its own Node, and the package itself brings neither Node 22 nor Testcontainers 12', async () => {
  assert.notEqual(realpathSync(process.execPath), realpathSync(node22()));
  // What a git install (npm install -g git+…) installs is the root lockfile: Node 22 and
  // Testcontainers 12 live only in test/testcontainers-12, which CI installs on its own.
  const lock = JSON.parse(await readFile(join(repoRoot(), 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; name?: string }> };
  const names = Object.keys(lock.packages).filter((k) => k !== '');
  assert.deepEqual(
    names.filter((k) => /node_modules\/node-linux-/.test(k)),
    [],
  );
  for (const k of names.filter((k) => /(^|\/)node_modules\/testcontainers$/.test(k) || lock.packages[k]?.name === 'testcontainers')) {
    assert.match(String(lock.packages[k]?.version), /^11\./, `${k} in the root lockfile`);
  }
  assert.equal(existsSync(join(repoRoot(), 'node_modules', '.bin', 'node')), false, 'nothing in node_modules shadows the Node that runs npm scripts');
});

for (const rt of testcontainersRuntimes()) {
  test(`testcontainers (${rt.label}): a container reaches 127.0.0.1 and ::1 servers by name, UDP too, a late port, and disposal frees the ports`, async (t) => {
    const { ns, d, image } = await labDocker(t, `tc${rt.testcontainersMajor}`);
    const root = await tempRoot(t, 'tc');
    const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none'], { env: d.env });
    assert.equal(up.code, 0, up.stderr);

    const r = await runChild(rt, ns, ['scenario', root, image], d.env, 180_000);
    assert.equal(r.code, 0, `child failed: ${r.stderr}\n${JSON.stringify(r.lines)}`);
    assertRuntime(r.lines, rt);
    assert.match(
      String(step(r.lines, 'container').label),
      new RegExp(`^${rt.testcontainersMajor}\\.`),
      'the container was started by that Testcontainers (its own label)',
    );

    const exposed = step(r.lines, 'exposed');
    assert.equal(exposed.mode, 'hostalias');
    assert.equal(exposed.ip, ALIAS);
    const names = exposed.names as string[];
    assert.ok(names.includes('local_host') && names.includes('host.testcontainers.internal'), `names: ${names.join(', ')}`);
    assert.deepEqual(
      (exposed.extraHosts as Array<{ host: string; ipAddress: string }>).map((e) => e.ipAddress),
      names.map(() => ALIAS),
      'every name points at the alias',
    );

    const urls = step(r.lines, 'http').urls as Record<string, string>;
    for (const name of names) {
      assert.equal(urls[`${name} v4`], 'hello-v4', `${name}: the 127.0.0.1 server`);
      assert.equal(urls[`${name} v6`], 'hello-v6', `${name}: the ::1 server`);
    }

    const http = step(r.lines, 'http');
    assert.equal(urls['any'], 'hello-any', 'a server on every address is reached directly');
    assert.deepEqual(
      (exposed.ports as Array<{ port: number; proto: string; via: string }>).find((p) => p.port === http.anyPort),
      { port: http.anyPort, proto: 'tcp', via: 'direct' },
      'no relay for a server that already listens on the alias',
    );

    const udp = step(r.lines, 'udp');
    assert.equal(udp.nameIp, ALIAS, 'host.testcontainers.internal is the alias in the container');
    assert.equal(udp.reply, 'udp:hi', 'a UDP echo on ::1 answers through the relay');

    const late = step(r.lines, 'late');
    assert.match(String(late.before), /^FAIL:/, 'before expose: the late port is not reachable (negative control)');
    assert.equal(late.after, 'hello-late', 'a port exposed after the container started');

    assert.equal(step(r.lines, 'bound-while-open').v4, false, 'while open, the relay holds ALIAS:PORT');
    const disposed = step(r.lines, 'disposed');
    assert.equal(disposed.ports, 0);
    assert.equal(disposed.free, true, 'after `await using`: ALIAS:PORT is free again');
    assert.match(String(disposed.fetchAfter), /^FAIL:/, 'after disposal the container no longer reaches the server');
    assert.equal(disposed.exposeAfter, 'usage', 'a disposed handle refuses new ports');
    step(r.lines, 'done');

    // Nothing left running: no container, no listener on the alias in the namespace.
    assert.equal((await d.docker(['ps', '-aq', '--filter', 'status=running'])).stdout.trim(), '');
    const ss = await ns.exec(['ss', '-Hlntu', `src ${ALIAS}`]);
    assert.equal(ss.stdout.trim(), '', `listeners left on the alias: ${ss.stdout}`);
  });

  test(`testcontainers (${rt.label}): without the alias, exposeHostPorts fails at once with the fix`, async (t) => {
    const ns = await withNetns(t, `tcna${rt.testcontainersMajor}`);
    const r = await runChild(rt, ns, ['no-alias'], process.env, 30_000);
    assert.equal(r.code, 0, r.stderr);
    assertRuntime(r.lines, rt);
    const res = step(r.lines, 'no-alias');
    const error = res.error as { code: string; message: string; fix: string } | null;
    assert.ok(error, 'it must fail, not bind nowhere');
    assert.equal(error.code, 'not-present');
    assert.match(error.message, /10\.254\.254\.254/);
    // The library re-runs nothing: the CLI of this package by path (the tests run as root: no sudo needed).
    assert.match(error.fix, /^\S*node\S* \S+\/dist\/cli\/main\.js up /);
    assert.match(error.fix, /fallback: 'testcontainers'/);
    assert.ok((res.ms as number) < 2000, `failed within ${res.ms as number} ms`);
  });

  test(`testcontainers (${rt.label}): without the alias, { fallback: 'testcontainers' } uses Testcontainers' own tunnel`, async (t) => {
    const { ns, d, image } = await labDocker(t, `tcfb${rt.testcontainersMajor}`);
    // Testcontainers' sshd, built from Debian's openssh-server (no registry), named by its override setting.
    const sshd = await buildSshdImage(d);
    const r = await runChild(rt, ns, ['fallback', image], { ...d.env, SSHD_CONTAINER_IMAGE: sshd }, 180_000);
    assert.equal(r.code, 0, `child failed: ${r.stderr}\n${JSON.stringify(r.lines)}`);
    assertRuntime(r.lines, rt);
    const fb = step(r.lines, 'fallback');
    assert.equal(fb.mode, 'testcontainers');
    assert.deepEqual(fb.extraHosts, [], 'Testcontainers adds host.testcontainers.internal itself');
    assert.equal(fb.udpError, 'unsupported', 'UDP asked for by name is refused: the tunnel is TCP only');
    assert.equal(fb.reply, 'hello-fallback', 'the container reaches the host through the SSH tunnel');
    const running = (await d.docker(['ps', '--format', '{{.Image}} {{.Label "org.testcontainers.version"}}'])).stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(running.length, 1, `only the sshd container is left, for Testcontainers' reaper (disabled here): ${running.join('; ')}`);
    const [sshdImage, sshdBy] = (running[0] ?? '').split(' ');
    assert.equal(sshdImage, sshd);
    // hostalias/testcontainers' own import('testcontainers') started it: that import got this version too.
    assert.match(sshdBy ?? '', new RegExp(`^${rt.testcontainersMajor}\\.`), "the library's fallback loaded the same Testcontainers");
  });

  test(`testcontainers (${rt.label}): the example test file of docs/testcontainers.md passes as written`, async (t) => {
    const page = await readFile(join(repoRoot(), 'docs', 'testcontainers.md'), 'utf8');
    const m = /```js\n(\/\/ test\/webhook\.test\.mjs\n[\s\S]*?)```/.exec(page);
    assert.ok(m?.[1], 'docs/testcontainers.md has the example test file');
    const { ns, d } = await labDocker(t, `tcrd${rt.testcontainersMajor}`);
    await buildAlpineStandIn(d);
    // The example uses no options: the alias and names are hostalias's defaults, as after a plain `up`.
    const up = await runCli(ns, ['up', '--files-root', await tempRoot(t, 'tcrd'), '--persist', 'none'], { env: d.env });
    assert.equal(up.code, 0, up.stderr);
    // Inside the repository, so `testcontainers` and `hostalias/testcontainers` resolve as in a user's project.
    const dir = join(repoRoot(), 'build', `docs-example-${process.pid}-${rt.testcontainersMajor}`);
    await mkdir(dir, { recursive: true });
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'webhook.test.mjs');
    await writeFile(file, m[1]);
    // Without NODE_TEST_CONTEXT the inner runner prints its own TAP instead of reporting to this one.
    const env: NodeJS.ProcessEnv = { ...d.env, ...rt.env, TESTCONTAINERS_RYUK_DISABLED: 'true' };
    delete env['NODE_TEST_CONTEXT'];
    const since = String(Math.floor(Date.now() / 1000));
    const r = await ns.exec([...rt.argv(), '--test', '--test-reporter=tap', file], { env, timeoutMs: 180_000, allowFail: true });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^# pass 1$/m);
    assert.match(r.stdout, /^# fail 0$/m);
    assert.equal((await d.docker(['ps', '-q'])).stdout.trim(), '', 'the example stops its container');
    const by = await createdBy(d, since);
    assert.equal(by.length, 1, `one container created: ${by.join(', ')}`);
    assert.match(by[0] ?? '', new RegExp(`^${rt.testcontainersMajor}\\.`), 'created by that Testcontainers (its label)');
  });
}
