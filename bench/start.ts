/**
 * `npm run bench`, part 1 (issue 12): how fast the CLI starts and what `hostalias run` adds to
 * `docker run`, as ratios to baselines measured side by side in the same run.
 *
 * - Start: medians of BENCH_START_RUNS (10) runs each of `node -e 0` (the floor any Node CLI
 *   pays) and the built CLI's `--version`, `status`, `flags` and `run --dry-run`, interleaved so
 *   load changes hit every row alike. Read-only commands, run as they would be by a user.
 * - run: medians of BENCH_RUN_RUNS (10) `docker run --rm IMAGE true` against `hostalias run --rm
 *   IMAGE true`, interleaved, both inside a lab namespace with its own dockerd and a busybox image
 *   made by `docker import` (no registry, nothing outside the namespace).
 * Needs root and the lab's packages (test/lab/README.md). Prints a markdown table.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { median } from './median.js';
import { cliPath, createNetns, type Netns } from '../test/lab/netns.js';
import { buildBusyboxImage, startDockerd, type Dockerd } from '../test/lab/dockerd.js';
import { execArgv } from '../test/lab/exec.js';

const START_RUNS = Number(process.env['BENCH_START_RUNS'] ?? '10');
const RUN_RUNS = Number(process.env['BENCH_RUN_RUNS'] ?? '10');

function timeSync(argv: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'ignore'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  return ms;
}

async function timeIn(ns: Netns, d: Dockerd, argv: readonly string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await ns.exec(argv, { env: d.env, allowFail: true, timeoutMs: 60_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim()}`);
  return ms;
}

interface Row {
  name: string;
  argv: string[];
  times: number[];
}

function table(title: string, rows: readonly Row[], limit: number): string {
  const base = median(rows[0]?.times ?? []);
  const lines = [`| ${title} | median ms | ratio | target |`, '|---|---:|---:|---:|'];
  for (const [i, r] of rows.entries()) {
    const m = median(r.times);
    const ratio = m / base;
    lines.push(`| ${r.name} | ${m.toFixed(1)} | ${i === 0 ? '1.00× (baseline)' : `${ratio.toFixed(2)}×`} | ${i === 0 ? '' : `≤ ${limit.toFixed(2)}× ${ratio <= limit ? '✓' : '✗'}`} |`);
  }
  return lines.join('\n');
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const cli = cliPath();
  const node = process.execPath;
  const start: Row[] = [
    { name: '`node -e 0`', argv: [node, '-e', '0'], times: [] },
    { name: '`hostalias --version`', argv: [node, cli, '--version'], times: [] },
    { name: '`hostalias status`', argv: [node, cli, 'status'], times: [] },
    { name: '`hostalias flags`', argv: [node, cli, 'flags'], times: [] },
    { name: '`hostalias run --dry-run --rm IMAGE true`', argv: [node, cli, 'run', '--dry-run', '--rm', 'busybox', 'true'], times: [] },
  ];
  for (const r of start) timeSync(r.argv); // warm the page cache
  for (let i = 0; i < START_RUNS; i++) for (const r of start) r.times.push(timeSync(r.argv));
  process.stdout.write(`${table('start (medians of ' + START_RUNS + ')', start, 1.5)}\n\n`);

  const ns = await createNetns('bench-run');
  try {
    const d = await startDockerd(ns);
    const img = await buildBusyboxImage(d);
    const docker = (await execArgv(['sh', '-c', 'command -v docker'])).stdout.trim();
    const run: Row[] = [
      { name: '`docker run --rm IMAGE true`', argv: [docker, 'run', '--rm', img, 'true'], times: [] },
      { name: '`hostalias run --rm IMAGE true`', argv: [node, cli, 'run', '--rm', img, 'true'], times: [] },
    ];
    for (const r of run) await timeIn(ns, d, r.argv);
    for (let i = 0; i < RUN_RUNS; i++) for (const r of run) r.times.push(await timeIn(ns, d, r.argv));
    process.stdout.write(`${table('docker run (medians of ' + RUN_RUNS + ', in a lab namespace with its own dockerd)', run, 1.1)}\n`);
    const [a, b] = run.map((r) => median(r.times)) as [number, number];
    process.stdout.write(`\nhostalias run adds ${(b - a).toFixed(0)} ms to docker run (${((b / a - 1) * 100).toFixed(1)}%)\n`);
    // What no Node CLI in front of docker can go below: its own start, paid before docker starts.
    const node0 = median(start[0]?.times ?? []);
    process.stdout.write(`Node's own start (\`node -e 0\` above, ${node0.toFixed(0)} ms) is ${((node0 / a) * 100).toFixed(1)}% of docker run: the floor for a Node wrapper is ${((a + node0) / a).toFixed(2)}×\n`);
  } finally {
    await ns.destroy();
  }
  process.stdout.write(`load average before ${loadBefore}, after ${loadavg()} (${(await execArgv(['nproc'])).stdout.trim()} CPUs)\n\n`);
}

await main();
