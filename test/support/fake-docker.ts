import { readFileSync } from 'node:fs';
import type { RunResult } from '../../src/exec/runner.js';
import { FakeRunner, fail, ok } from './fake-runner.js';

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
