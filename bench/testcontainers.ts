/**
 * `npm run bench:testcontainers`: hostalias/testcontainers against Testcontainers' own
 * exposeHostPorts (sshd container + ssh2 remote forward), side by side in one run.
 *
 * Lab: one namespace with a private dockerd (test/lab), the alias added there by
 * `up --files-root`, and the test process (bench/testcontainers-child.ts) inside it, serving HTTP
 * on 127.0.0.1. Testcontainers uses an sshd image built here from Debian's openssh-server
 * (test/lab/debian-images.ts), named through its SSHD_CONTAINER_IMAGE setting. Figures:
 * - set-up: from nothing (the test process serving, Testcontainers' module loaded — both sides
 *   need it to start a container) to the first successful request from a new container: on our
 *   side the import of hostalias/testcontainers, the expose call, the container's start and the
 *   request; on theirs the expose call (sshd container, SSH tunnel), the container's start and the
 *   request. The container start and the request (a `docker exec` of nc) are the same on both.
 *   Also the expose call alone (ours with the import). BENCH_TRACE=1 adds where the time goes
 *   (bench/tc-breakdown.ts), from Testcontainers' own debug log;
 * - p50/p99 of small keep-alive HTTP GETs and the throughput of a 100 MB GET, measured from
 *   inside the container's network namespace (bench/http-load.ts).
 * Rounds alternate the order of the two modes. Nothing touches the root namespace.
 *
 * Each Testcontainers version of test/support/testcontainers-runtimes.ts gets its own table, in
 * the same run and lab: 11 on the Node running the bench, 12 on Node 22 (the test process, both
 * modes, runs on that Node). BENCH_TESTCONTAINERS=12 (or 11) runs one only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execArgv } from '../test/lab/exec.js';
import { LAB_TMP_PREFIX } from '../test/lab/cleanup.js';
import { buildBusyboxImage, labPrerequisites, startDockerd, type Dockerd } from '../test/lab/dockerd.js';
import { createNetns, runCli, type Netns } from '../test/lab/netns.js';
import { buildSshdImage } from '../test/lab/debian-images.js';
import { testcontainersRuntimes, type TestcontainersRuntime } from '../test/support/testcontainers-runtimes.js';
import { breakdownTable, type TraceEvent } from './tc-breakdown.js';
import { median } from './median.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'testcontainers-child.js');
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '5');
const LOAD_ROUNDS = Number(process.env['BENCH_LOAD_ROUNDS'] ?? String(ROUNDS));
type Mode = 'hostalias' | 'direct' | 'testcontainers';

interface Sample {
  mode: Mode;
  exposeMs: number;
  firstMs: number;
  p50?: number;
  p99?: number;
  mbps?: number;
  trace?: TraceEvent[];
  /** What the child really ran on: process.versions.node and the testcontainers package version. */
  node: string;
  testcontainers: string;
}

async function runChild(
  rt: TestcontainersRuntime,
  ns: Netns,
  d: Dockerd,
  what: 'setup' | 'load',
  mode: Mode,
  filesRoot: string,
  image: string,
  sshd: string,
): Promise<Sample> {
  // TESTCONTAINERS_HOST_OVERRIDE: this machine may itself be a container (/.dockerenv), and then
  // Testcontainers probes the bridge gateway and tries to pull alpine:3.14 to read a default route
  // on every start — for both modes alike. 'localhost' is what it settles on here anyway and what
  // it takes at once on an ordinary host.
  const env = {
    ...d.env,
    ...rt.env,
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    SSHD_CONTAINER_IMAGE: sshd,
    TESTCONTAINERS_HOST_OVERRIDE: 'localhost',
    // The load client (in the container's namespace) is measuring equipment: the same Node for every runtime.
    BENCH_CLIENT_NODE: process.execPath,
  };
  try {
    const r = await ns.exec([...rt.argv(), CHILD, what, mode, filesRoot, image], { env, timeoutMs: 300_000 });
    const sample = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Sample;
    // A figure under the wrong label is worse than none.
    if (sample.node.split('.')[0] !== String(rt.nodeMajor) || sample.testcontainers.split('.')[0] !== String(rt.testcontainersMajor)) {
      throw new Error(`${rt.label}: the child ran Node ${sample.node} with testcontainers ${sample.testcontainers}`);
    }
    return sample;
  } finally {
    // Testcontainers leaves its sshd container (no Ryuk here): start every round from nothing.
    const ids = (await d.docker(['ps', '-aq'], { allowFail: true })).stdout.split('\n').filter((s) => s !== '');
    if (ids.length > 0) await d.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 });
  }
}

function table(setup: Sample[], load: Sample[]): string {
  const of = (xs: Sample[], m: Mode, k: keyof Sample): number => median(xs.filter((x) => x.mode === m).map((x) => x[k] as number));
  const row = (label: string, xs: Sample[], k: keyof Sample, unit: string, target: string, better: 'lower' | 'higher', d = 1): string => {
    const ours = of(xs, 'hostalias', k);
    const theirs = of(xs, 'testcontainers', k);
    const factor = better === 'lower' ? theirs / ours : ours / theirs;
    const verdict =
      factor >= 1
        ? `${factor.toFixed(1)}× ${better === 'lower' ? 'faster' : 'higher'}`
        : `${(1 / factor).toFixed(1)}× ${better === 'lower' ? 'slower' : 'lower'}`;
    return `| ${label} | ${ours.toFixed(d)} ${unit} | ${theirs.toFixed(d)} ${unit} | ${verdict} | ${target} |`;
  };
  const rows = [
    '| figure (median) | hostalias/testcontainers | Testcontainers exposeHostPorts | hostalias vs Testcontainers | target |',
    '|---|---|---|---|---|',
    row('set-up: nothing → first request from a new container', setup, 'firstMs', 'ms', '≥ 5× faster', 'lower', 0),
    row('expose call alone (ours: with importing hostalias/testcontainers)', setup, 'exposeMs', 'ms', '–', 'lower', 0),
    row('small HTTP GET p50 (keep-alive)', load, 'p50', 'ms', '≤ 0.5× (≥ 2× faster)', 'lower', 3),
    row('small HTTP GET p99 (keep-alive)', load, 'p99', 'ms', '–', 'lower', 3),
    row('100 MB download', load, 'mbps', 'MB/s', '≥ 3×', 'higher', 0),
  ];
  return (load.length > 0 ? rows : rows.slice(0, 4)).join('\n');
}

/** The same figures with the server on every address: no relay at all, the ceiling of this lab. */
function directLine(load: Sample[]): string {
  const of = (k: keyof Sample): number => median(load.filter((x) => x.mode === 'direct').map((x) => x[k] as number));
  if (load.every((x) => x.mode !== 'direct')) return '';
  return `No relay at all (the server on every address, reached at the alias directly; the ceiling of this lab): p50 ${of('p50').toFixed(3)} ms, p99 ${of('p99').toFixed(3)} ms, 100 MB at ${of('mbps').toFixed(0)} MB/s.`;
}

/** The runtimes BENCH_TESTCONTAINERS names (majors, comma-separated), or all of them. */
function selectedRuntimes(): TestcontainersRuntime[] {
  const all = testcontainersRuntimes();
  const wanted = (process.env['BENCH_TESTCONTAINERS'] ?? '').split(',').filter((x) => x !== '');
  const chosen = wanted.length === 0 ? all : all.filter((rt) => wanted.includes(String(rt.testcontainersMajor)));
  if (chosen.length === 0)
    throw new Error(`BENCH_TESTCONTAINERS=${wanted.join(',')}: no such version (have ${all.map((rt) => rt.testcontainersMajor).join(', ')})`);
  for (const rt of chosen) rt.argv(); // a missing Node 22 fails here, before the lab is built
  return chosen;
}

async function main(): Promise<void> {
  const missing = labPrerequisites();
  if (missing.length > 0) throw new Error(`the benchmark needs: ${missing.join(', ')}`);
  const runtimes = selectedRuntimes();
  const started = Date.now();
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const ns = await createNetns('tcbench');
  const filesRoot = await mkdtemp(`${LAB_TMP_PREFIX}tcbench-`);
  try {
    const d = await startDockerd(ns);
    const image = await buildBusyboxImage(d);
    const sshd = await buildSshdImage(d);
    const up = await runCli(ns, ['up', '--files-root', filesRoot, '--persist', 'none'], { env: d.env });
    if (up.code !== 0) throw new Error(`hostalias up failed: ${up.stderr}`);
    const results: Array<{ rt: TestcontainersRuntime; setup: Sample[]; load: Sample[] }> = [];
    for (const rt of runtimes) {
      const setup: Sample[] = [];
      const load: Sample[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const order: Mode[] = i % 2 === 0 ? ['hostalias', 'testcontainers'] : ['testcontainers', 'hostalias'];
        for (const mode of order) {
          process.stderr.write(`bench: ${rt.label}: round ${i + 1}/${ROUNDS} set-up ${mode}…\n`);
          setup.push(await runChild(rt, ns, d, 'setup', mode, filesRoot, image, sshd));
        }
      }
      for (let i = 0; i < LOAD_ROUNDS; i++) {
        for (const mode of (i % 2 === 0 ? ['hostalias', 'testcontainers', 'direct'] : ['direct', 'testcontainers', 'hostalias']) as Mode[]) {
          process.stderr.write(`bench: ${rt.label}: load ${i + 1} ${mode}…\n`);
          load.push(await runChild(rt, ns, d, 'load', mode, filesRoot, image, sshd));
        }
      }
      results.push({ rt, setup, load });
    }
    const cpus = (await execArgv(['nproc'])).stdout.trim();
    for (const { rt, setup, load } of results) {
      const ran = setup[0] ?? load[0];
      process.stdout.write(
        `\n### ${rt.label} (Node ${ran?.node ?? '?'}, testcontainers ${ran?.testcontainers ?? '?'})\n\n${table(setup, load)}\n\n${directLine(load)}\n\n`,
      );
      if (setup.some((s) => s.trace)) process.stdout.write(`Where the set-up time goes (BENCH_TRACE=1):\n\n${breakdownTable(setup, sshd)}\n\n`);
    }
    // Traces stay in the raw line only when asked for (BENCH_TRACE=1): they are long.
    process.stdout.write(`raw: ${JSON.stringify(results.map(({ rt, setup, load }) => ({ runtime: rt.label, setup, load })))}\n`);
    const after = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    process.stdout.write(
      `${cpus} CPUs; ${ROUNDS} set-up and ${LOAD_ROUNDS} load rounds per mode, medians over rounds; total ${Math.round((Date.now() - started) / 1000)} s; load average before ${loadBefore}, after ${after}\n`,
    );
    if (Number(loadBefore.split(' ')[0]) > Number(cpus) / 2)
      process.stdout.write('warning: the machine was busy before the run started: the figures are noisy, run again on an idle machine\n');
    await runCli(ns, ['down', '--files-root', filesRoot], { env: d.env }).catch(() => undefined);
  } finally {
    await ns.destroy().catch(() => undefined);
    await rm(filesRoot, { recursive: true, force: true });
  }
}

await main();
