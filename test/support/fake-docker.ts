import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { TestContext } from 'node:test';
import type { RunResult } from '../../src/model/runner.js';
import { type FakeRunner, fail, ok } from './fake-runner.js';

const FIXTURES = new URL('../../../test/fixtures/docker/', import.meta.url);

/** A fixture of real docker CLI output (see test/fixtures/docker/README.md). */
export function dockerFixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

export const ENGINE_DOWN: RunResult = { code: 1, stdout: dockerFixture('version-no-server.json'), stderr: dockerFixture('version-no-server.stderr.txt') };

export interface FakeEngine {
  /** `docker version --format '{{json .}}'`: a fixture name, or a whole reply (down, missing). */
  version?: string | RunResult;
  /** `docker info --format '{{json .}}'` fixture; the Debian lab engine by default. */
  info?: string;
  context?: string;
  /** `dockerd --version` fixture text; absent means dockerd is not installed. */
  dockerd?: string;
  /** Answer the bridge listing with the lab's three networks (default true). */
  bridges?: boolean;
}

/** Teaches `runner` the commands of docker/engine.ts's probe, answered from fixtures. */
export function onDocker(runner: FakeRunner, e: FakeEngine = {}): FakeRunner {
  const version = e.version ?? 'version-engine-20.10.json';
  runner
    .on(['docker', 'version', '--format', '{{json .}}'], typeof version === 'string' ? ok(dockerFixture(version)) : version)
    .on(['docker', 'info', '--format', '{{json .}}'], ok(dockerFixture(e.info ?? 'info-engine-20.10.json')))
    .on(['docker', 'context', 'show'], ok(`${e.context ?? 'default'}\n`))
    .on(['dockerd', '--version'], e.dockerd !== undefined ? ok(e.dockerd) : fail('dockerd: command not found', 127));
  if (e.bridges !== false) {
    const ls = dockerFixture('network-ls-bridges.txt');
    runner
      .on(['docker', 'network', 'ls', '-q', '--no-trunc', '--filter', 'driver=bridge'], ok(ls))
      .on(['docker', 'network', 'inspect', ...ls.split('\n').filter(Boolean)], ok(dockerFixture('network-inspect-bridges.json')));
  }
  return runner;
}

/**
 * A real HTTP server on a real unix socket answering /version and /info with what the `version`
 * and `info` fixture engine's API returns; closed after the test (or by `close`).
 */
export async function fakeEngine(
  t: Pick<TestContext, 'after'>,
  socket: string,
  version: string,
  info: string,
): Promise<{ paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  // The API's /version is the CLI's "Server" part; its /info is the CLI's info JSON.
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    const body =
      req.url === '/version'
        ? JSON.stringify((JSON.parse(dockerFixture(version)) as { Server: unknown }).Server)
        : req.url === '/info'
          ? dockerFixture(info)
          : null;
    res.writeHead(body === null ? 404 : 200, { 'Content-Type': 'application/json' }).end(body ?? '{"message":"page not found"}');
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const close = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  t.after(close);
  return { paths, close };
}
