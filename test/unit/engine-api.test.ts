/**
 * The engine asked over its API socket (no `docker` process at start): where the docker
 * CLI would connect (DOCKER_HOST, DOCKER_CONTEXT, config.json's currentContext, the context's
 * meta.json), a real HTTP server on a real unix socket answering with the real engines' JSON
 * (test/fixtures/docker), and the same facts and names as the CLI probe from the same answers.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { dockerEngineApi, parseDockerHost, resolveEngineEndpoint } from '../../src/docker/engine-api.js';
import { parseEngine, probeEngine, probeEngineFacts } from '../../src/docker/engine.js';
import { namesForEngine } from '../../src/docker/target.js';
import type { Context, NativeProbes } from '../../src/model/context.js';
import { FakeRunner } from '../support/fake-runner.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { dockerFixture, fakeEngine, onDocker } from '../support/fake-docker.js';

const NAMES = ['local_host', 'local', 'host.docker.internal'];

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hostalias-engine-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A PATH holding an executable `docker` (never run: the socket answers). */
async function pathWithDocker(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'docker'), '#!/bin/sh\nexit 99\n');
  await chmod(join(bin, 'docker'), 0o755);
  return bin;
}

function ctxWith(env: Record<string, string | undefined>, runner = new FakeRunner()): Pick<Context, 'runner' | 'env' | 'native'> & Context {
  const native: NativeProbes = { addresses: () => [], engine: () => dockerEngineApi(env) };
  return { runner, env, native, fs: new SystemFs('/'), live: true, backend: { platform: 'linux' } } as unknown as Context;
}

test('DOCKER_HOST forms: unix and plain tcp are reached directly; ssh, npipe and fd are left to the CLI', () => {
  assert.deepEqual(parseDockerHost('unix:///run/user/1000/docker.sock'), { socket: '/run/user/1000/docker.sock' });
  assert.deepEqual(parseDockerHost('tcp://docker:2375'), { host: 'docker', port: 2375 });
  assert.deepEqual(parseDockerHost('tcp://192.0.2.10'), { host: '192.0.2.10', port: 2375 });
  assert.deepEqual(parseDockerHost('tcp://[2001:db8::1]:2376'), { host: '2001:db8::1', port: 2376 });
  for (const cli of ['ssh://user@host', 'npipe:////./pipe/docker_engine', 'fd://', 'unix://relative.sock', '']) assert.equal(parseDockerHost(cli), null, cli);
});

test('the endpoint is the one the docker CLI picks: DOCKER_HOST, DOCKER_CONTEXT, currentContext, default', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'docker-config');
  const meta = (name: string) => join(config, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
  await mkdir(meta('colima'), { recursive: true });
  await writeFile(
    join(meta('colima'), 'meta.json'),
    JSON.stringify({
      Name: 'colima',
      Metadata: { Description: 'colima' },
      Endpoints: { docker: { Host: 'unix:///home/u/.colima/default/docker.sock', SkipTLSVerify: false } },
    }),
  );
  await mkdir(meta('remote'), { recursive: true });
  await writeFile(join(meta('remote'), 'meta.json'), JSON.stringify({ Name: 'remote', Endpoints: { docker: { Host: 'tcp://192.0.2.20:2376' } } }));
  await mkdir(join(config, 'contexts', 'tls', createHash('sha256').update('remote').digest('hex'), 'docker'), { recursive: true });
  await writeFile(join(config, 'contexts', 'tls', createHash('sha256').update('remote').digest('hex'), 'docker', 'ca.pem'), 'x');

  const base = { DOCKER_CONFIG: config };
  assert.deepEqual(await resolveEngineEndpoint(base), { context: 'default', socket: '/var/run/docker.sock' }, 'no config.json: the default context');
  assert.deepEqual(
    await resolveEngineEndpoint({ ...base, DOCKER_HOST: 'unix:///tmp/x.sock', DOCKER_CONTEXT: 'colima' }),
    { context: 'default', socket: '/tmp/x.sock' },
    'DOCKER_HOST wins over DOCKER_CONTEXT, as in the CLI',
  );
  assert.deepEqual(await resolveEngineEndpoint({ ...base, DOCKER_CONTEXT: 'colima' }), { context: 'colima', socket: '/home/u/.colima/default/docker.sock' });
  await writeFile(join(config, 'config.json'), JSON.stringify({ auths: {}, currentContext: 'colima' }));
  assert.deepEqual(await resolveEngineEndpoint(base), { context: 'colima', socket: '/home/u/.colima/default/docker.sock' }, 'currentContext');
  assert.deepEqual(
    await resolveEngineEndpoint({ HOME: dir, DOCKER_CONTEXT: 'default' }),
    { context: 'default', socket: '/var/run/docker.sock' },
    'DOCKER_CONTEXT=default',
  );
  // Left to the CLI: TLS, a context it can't read, a broken config, no HOME.
  assert.equal(await resolveEngineEndpoint({ ...base, DOCKER_CONTEXT: 'remote' }), null, 'a context with TLS material');
  assert.equal(await resolveEngineEndpoint({ ...base, DOCKER_CONTEXT: 'missing' }), null, 'a context without meta.json');
  assert.equal(await resolveEngineEndpoint({ DOCKER_HOST: 'tcp://docker:2376', DOCKER_TLS_VERIFY: '1' }), null, 'DOCKER_TLS_VERIFY');
  assert.equal(await resolveEngineEndpoint({ DOCKER_HOST: 'ssh://me@host' }), null, 'ssh://');
  assert.equal(await resolveEngineEndpoint({}), null, 'no HOME, no DOCKER_CONFIG');
  await writeFile(join(config, 'config.json'), '{ "currentContext": ');
  assert.equal(await resolveEngineEndpoint(base), null, 'a config.json the CLI would warn about');
});

test('over the socket: the same facts and names as the docker CLI from the same engine, and no process started', async (t) => {
  const dir = await tempDir(t);
  const bin = await pathWithDocker(dir);
  const cases: Array<[string, string, string]> = [
    ['version-engine-20.10.json', 'info-engine-20.10.json', 'engine'],
    ['version-desktop.json', 'info-engine-20.10.json', 'desktop'],
    ['version-engine-20.10.json', 'info-desktop.json', 'desktop'],
    ['version-engine-20.10.json', 'info-orbstack.json', 'orbstack'],
    ['version-engine-20.10.json', 'info-colima.json', 'colima'],
    ['version-podman.json', 'info-engine-20.10.json', 'podman'],
    ['version-engine-20.10.json', 'info-rootless.json', 'engine'],
  ];
  for (const [i, [version, info, flavour]] of cases.entries()) {
    const socket = join(dir, `engine-${i}.sock`);
    const asked = (await fakeEngine(t, socket, version, info)).paths;
    const runner = new FakeRunner(); // no handlers: any command fails the test
    const ctx = ctxWith({ PATH: bin, DOCKER_HOST: `unix://${socket}` }, runner);
    const viaApi = await probeEngineFacts(ctx);
    assert.deepEqual(asked.sort(), ['/info', '/version']);
    const viaCli = await probeEngine(onDocker(new FakeRunner(), { version, info }), { bridges: false });
    assert.ok(viaApi.reachable && viaCli.reachable);
    assert.equal(viaApi.flavour, flavour, `${version} ${info}`);
    assert.deepEqual({ ...viaApi, clientVersion: null }, { ...viaCli, clientVersion: null, bridges: [] }, 'every fact but the client version');
    assert.deepEqual(
      (await namesForEngine(ctx, NAMES)).names,
      (await namesForEngine({ ...ctx, native: undefined, runner: onDocker(new FakeRunner(), { version, info }) } as Context, NAMES)).names,
    );
    assert.deepEqual(runner.calls, []);
  }
  // The context name counts as `docker context show` does.
  const socket = join(dir, 'desktop-linux.sock');
  await fakeEngine(t, socket, 'version-engine-20.10.json', 'info-engine-20.10.json');
  const config = join(dir, 'cfg');
  const id = createHash('sha256').update('desktop-linux').digest('hex');
  await mkdir(join(config, 'contexts', 'meta', id), { recursive: true });
  await writeFile(
    join(config, 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Name: 'desktop-linux', Endpoints: { docker: { Host: `unix://${socket}` } } }),
  );
  const byContext = await probeEngineFacts(ctxWith({ PATH: bin, DOCKER_CONFIG: config, DOCKER_CONTEXT: 'desktop-linux' }));
  assert.ok(byContext.reachable);
  assert.equal(byContext.flavour, 'desktop');
  assert.equal(
    byContext.flavourReason,
    parseEngine({ version: dockerFixture('version-engine-20.10.json'), info: dockerFixture('info-engine-20.10.json'), context: 'desktop-linux' }).flavourReason,
  );
});

test('over the socket: nothing listening is an unreachable engine (every name kept), no docker CLI is one too, and both start no process', async (t) => {
  const dir = await tempDir(t);
  const bin = await pathWithDocker(dir);
  const runner = new FakeRunner();
  const down = await probeEngineFacts(ctxWith({ PATH: bin, DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` }, runner));
  assert.equal(down.reachable, false);
  assert.match(!down.reachable ? down.error : '', /Cannot connect to the Docker daemon at unix:\/\/.*nothing\.sock \(ENOENT\)/);
  assert.deepEqual((await namesForEngine(ctxWith({ PATH: bin, DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` }, runner), NAMES)).names, NAMES);
  const noCli = await probeEngineFacts(ctxWith({ PATH: join(dir, 'empty'), DOCKER_HOST: `unix://${join(dir, 'nothing.sock')}` }, runner));
  assert.deepEqual(noCli, { reachable: false, cliMissing: true, error: 'the docker CLI is not installed', installed: null });
  assert.deepEqual(runner.calls, []);
});

test('over the socket: an engine that answers something else than HTTP, or a DOCKER_HOST only the CLI handles, is asked through the CLI', async (t) => {
  const dir = await tempDir(t);
  const bin = await pathWithDocker(dir);
  const socket = join(dir, 'garbage.sock');
  const { createServer: createNetServer } = await import('node:net');
  const server = createNetServer((c) => c.end('SSH-2.0-OpenSSH_9.2\r\n'));
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(() => void server.close());
  for (const env of [
    { PATH: bin, DOCKER_HOST: `unix://${socket}` },
    { PATH: bin, DOCKER_HOST: 'ssh://me@192.0.2.30' },
  ]) {
    const runner = onDocker(new FakeRunner(), { version: 'version-desktop.json' });
    const probe = await probeEngineFacts(ctxWith(env, runner));
    assert.ok(probe.reachable && probe.flavour === 'desktop', env.DOCKER_HOST);
    assert.ok(runner.lines.includes("docker version --format '{{json .}}'"), runner.lines.join('\n'));
    assert.ok(!runner.lines.includes('dockerd --version'), 'the names never need the installed dockerd');
  }
});

test('without native probes (a fake runner), the CLI answers, and an engine that is down costs no dockerd --version', async () => {
  const runner = onDocker(new FakeRunner(), {
    version: { code: 1, stdout: dockerFixture('version-no-server.json'), stderr: dockerFixture('version-no-server.stderr.txt') },
    dockerd: 'Docker version 20.10.24+dfsg1, build 297e128',
  });
  const probe = await probeEngineFacts({ runner, env: {} });
  assert.equal(probe.reachable, false);
  assert.deepEqual(runner.lines, ["docker version --format '{{json .}}'"]);
});

test('over the socket: an HTTP/1.1 answer in chunks is read whole; a server that accepts and never answers is down after the bound', async (t) => {
  const dir = await tempDir(t);
  const { createServer: createHttpServer } = await import('node:http');
  const { createServer: createNetServer } = await import('node:net');
  const chunked = join(dir, 'chunked.sock');
  const seen: string[] = [];
  const http = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url} HTTP/${req.httpVersion}`);
    res.writeHead(200, { 'Content-Type': 'application/json' }); // no length: Transfer-Encoding: chunked
    res.write('{"Version":');
    setTimeout(() => res.end('"27.0.3"}'), 20);
  });
  await new Promise<void>((resolve) => http.listen(chunked, resolve));
  t.after(() => void http.close());
  const api = await dockerEngineApi({ DOCKER_HOST: `unix://${chunked}` });
  assert.deepEqual(await api?.get('/version', 5000), { kind: 'answer', status: 200, body: '{"Version":"27.0.3"}' });
  assert.deepEqual(seen, ['GET /version HTTP/1.1']);

  const silent = join(dir, 'silent.sock');
  const held: import('node:net').Socket[] = [];
  const mute = createNetServer((c) => held.push(c));
  await new Promise<void>((resolve) => mute.listen(silent, resolve));
  t.after(() => {
    for (const c of held) c.destroy();
    mute.close();
  });
  const quiet = await (await dockerEngineApi({ DOCKER_HOST: `unix://${silent}` }))?.get('/version', 200);
  assert.deepEqual(quiet, { kind: 'down', error: `unix://${silent} gave no answer within 0.2 s` });
});
