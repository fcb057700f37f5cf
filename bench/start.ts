/**
 * `npm run bench`, part 1: how fast the CLI starts and what `hostalias run` adds to
 * `docker run`, as ratios to baselines measured side by side in the same run.
 *
 * - Start: medians of BENCH_START_RUNS (10) runs each of `node -e 0` (the floor any Node CLI
 *   pays) and the built CLI's `--version`, `status`, `flags` and `run --dry-run`, interleaved so
 *   load changes hit every row alike. Read-only commands, run as they would be by a user.
 *   The CLI is started as a user's shell starts it: `hostalias`, a link on PATH to the launcher
 *   (dist/cli/hostalias), which runs Node.
 * - run: medians of BENCH_RUN_RUNS (10) `docker run --rm IMAGE true` against `hostalias run --rm
 *   IMAGE true` (from the launcher's cache, as every run after the first is) and the same with
 *   the cache off (Node builds the command each time), interleaved, inside a lab namespace with
 *   its own dockerd and a busybox image made by `docker import` (no registry, nothing outside
 *   the namespace). `up --files-root` sets the alias up there; all three rows run in a mount
 *   namespace where that state is at /var/lib, the path a plain `hostalias run` reads. All three
 *   run as a user (`nobody`, with a home of its own), as `hostalias run` is used: the launcher
 *   runs no cache as root.
 * Needs root and the lab's packages (test/lab/README.md). Prints a markdown table.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { median } from './median.js';
import { createNetns, repoRoot, runCli } from '../test/lab/netns.js';
import { buildBusyboxImage, startDockerd } from '../test/lab/dockerd.js';
import { execArgv } from '../test/lab/exec.js';
import { mountStateAt, type StateMount } from '../test/lab/state-mount.js';

const START_RUNS = Number(process.env['BENCH_START_RUNS'] ?? '10');
const RUN_RUNS = Number(process.env['BENCH_RUN_RUNS'] ?? '10');

function timeSync(argv: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'ignore'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  return ms;
}

/** The user the `docker run` rows run as. */
const USER = 65534;

/** Times argv in the lab, as USER: its network namespace, with the state mounted at /var/lib. */
async function timeIn(held: StateMount, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await execArgv(held.argv(['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', '--', ...argv]), {
    env,
    allowFail: true,
    timeoutMs: 60_000,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim()}`);
  return ms;
}

interface Row {
  name: string;
  argv: string[];
  times: number[];
  /** The row's target ratio to the first row; none for a row shown for comparison. */
  limit?: number;
  env?: NodeJS.ProcessEnv;
}

function table(title: string, rows: readonly Row[]): string {
  const base = median(rows[0]?.times ?? []);
  const lines = [`| ${title} | median ms | ratio | target |`, '|---|---:|---:|---:|'];
  for (const [i, r] of rows.entries()) {
    const m = median(r.times);
    const ratio = m / base;
    const target = r.limit === undefined ? '' : `≤ ${r.limit.toFixed(2)}× ${ratio <= r.limit ? '✓' : '✗'}`;
    lines.push(`| ${r.name} | ${m.toFixed(1)} | ${i === 0 ? '1.00× (baseline)' : `${ratio.toFixed(2)}×`} | ${target} |`);
  }
  return lines.join('\n');
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const node = process.execPath;
  // `hostalias` as npm installs it: a link on PATH to the launcher.
  const bin = mkdtempSync(join(tmpdir(), 'hostalias-bench-bin-'));
  chmodSync(bin, 0o755); // the user of the run rows starts it too
  try {
    const cli = join(bin, 'hostalias');
    symlinkSync(join(repoRoot(), 'dist', 'cli', 'hostalias'), cli);
    await benchStart(node, cli);
    await benchRun(cli);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  process.stdout.write(`load average before ${loadBefore}, after ${loadavg()} (${(await execArgv(['nproc'])).stdout.trim()} CPUs)\n\n`);
}

let node0 = 0;

async function benchStart(node: string, cli: string): Promise<void> {
  const start: Row[] = [
    { name: '`node -e 0`', argv: [node, '-e', '0'], times: [] },
    { name: '`hostalias --version`', argv: [cli, '--version'], times: [], limit: 1.5 },
    { name: '`hostalias status`', argv: [cli, 'status'], times: [], limit: 1.5 },
    { name: '`hostalias flags`', argv: [cli, 'flags'], times: [], limit: 1.5 },
    { name: '`hostalias run --dry-run --rm IMAGE true`', argv: [cli, 'run', '--dry-run', '--rm', 'busybox', 'true'], times: [], limit: 1.5 },
  ];
  for (const r of start) timeSync(r.argv); // warm the page cache
  for (let i = 0; i < START_RUNS; i++) for (const r of start) r.times.push(timeSync(r.argv));
  process.stdout.write(`${table(`start (medians of ${START_RUNS})`, start)}\n\n`);
  node0 = median(start[0]?.times ?? []);
}

async function benchRun(cli: string): Promise<void> {
  const ns = await createNetns('bench-run');
  const state = mkdtempSync(join(tmpdir(), 'hostalias-bench-state-'));
  try {
    const up = await runCli(ns, ['up', '--files-root', state, '--persist', 'none']);
    if (up.code !== 0) throw new Error(`up failed: ${up.stderr}`);
    const held = await mountStateAt(ns, join(state, 'var', 'lib'));
    const d = await startDockerd(ns);
    const img = await buildBusyboxImage(d);
    const docker = (await execArgv(['sh', '-c', 'command -v docker'])).stdout.trim();
    // The user reaches its home, and this lab's engine (in the bench's namespace only).
    await chmod(state, 0o755);
    const home = join(state, 'home');
    await mkdir(home);
    await chown(home, USER, USER);
    const socket = d.host.replace(/^unix:\/\//, '');
    await chmod(dirname(socket), 0o711);
    await chmod(socket, 0o666);
    if (d.env['DOCKER_CONFIG']) await chmod(d.env['DOCKER_CONFIG'], 0o755).catch(() => undefined);
    const env = { ...d.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    const run: Row[] = [
      { name: '`docker run --rm IMAGE true`', argv: [docker, 'run', '--rm', img, 'true'], times: [], env },
      { name: '`hostalias run --rm IMAGE true`', argv: [cli, 'run', '--rm', img, 'true'], times: [], env, limit: 1.1 },
      {
        name: '`hostalias run --rm IMAGE true`, cache off (Node each time)',
        argv: [cli, 'run', '--rm', img, 'true'],
        times: [],
        env: { ...env, HOSTALIAS_NO_RUN_CACHE: '1' },
      },
    ];
    // The first run of each asks Node and keeps the cache; the engine's socket must be older than it.
    await new Promise((r) => setTimeout(r, 2_500));
    for (const r of run) await timeIn(held, r.argv, r.env ?? env);
    for (let i = 0; i < RUN_RUNS; i++) for (const r of run) r.times.push(await timeIn(held, r.argv, r.env ?? env));
    process.stdout.write(`${table(`docker run (medians of ${RUN_RUNS}, in a lab namespace with its own dockerd)`, run)}\n`);
    const [a, b, c] = run.map((r) => median(r.times)) as [number, number, number];
    process.stdout.write(
      `\nhostalias run adds ${(b - a).toFixed(0)} ms to docker run (${((b / a - 1) * 100).toFixed(1)}%); with the cache off, ${(c - a).toFixed(0)} ms (${((c / a - 1) * 100).toFixed(1)}%)\n`,
    );
    // What no Node CLI in front of docker can go below: its own start, paid before docker starts.
    process.stdout.write(
      `Node's own start (\`node -e 0\` above, ${node0.toFixed(0)} ms) is ${((node0 / a) * 100).toFixed(1)}% of docker run: the floor for Node in front of docker is ${((a + node0) / a).toFixed(2)}×\n`,
    );
  } finally {
    await ns.destroy();
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
