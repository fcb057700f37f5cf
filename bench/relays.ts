/**
 * `npm run bench`, the relays: iperf3 from a container through hostalias's paths against a direct
 * connection, as ratios measured in the same run (BENCH_RELAY_RUNS runs, 5 by default, each
 * reported).
 *
 * Lab: a namespace with its own dockerd (no uplink), the alias set up there by `up --files-root`,
 * and an image made by `docker import` of busybox plus this machine's iperf3 and the libraries
 * `ldd` names (nothing is pulled). One container stays up; each figure is `docker exec … iperf3
 * -c HOST -P STREAMS -J` in it, so the traffic leaves through the container's veth and the bridge
 * exactly as a container's own does. The iperf3 servers run in the namespace:
 * - direct (the baseline): a server on 0.0.0.0, reached at the bridge's gateway address;
 * - forward: a server on 127.0.0.1, reached at ALIAS:PORT through `hostalias forward PORT`;
 * - expose --all: a server on 127.0.0.1, reached at ALIAS:PORT through the one kernel rule of
 *   `hostalias expose --all` (the forward's port kept out with --except). Target: ≥ 0.95×.
 * Figures are receiver-side Gbit/s with the first second left out (-O 1).
 * Needs root, the lab's packages and iperf3 (.ci/install-packages).
 */
import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LAB_TMP_PREFIX } from '../test/lab/cleanup.js';
import { networkGateway, startDockerd, tarRootfs, writeBusyboxRootfs, type Dockerd } from '../test/lab/dockerd.js';
import { execArgv, sleep, waitOutput } from '../test/lab/exec.js';
import { cliPath, createNetns, runCli, type Netns } from '../test/lab/netns.js';

const ALIAS = '10.254.254.254';
const RUNS = Number(process.env['BENCH_RELAY_RUNS'] ?? '5');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '4');
const IMAGE = 'hostalias-iperf3:bench';

/** busybox plus this machine's iperf3 and the libraries it links, imported as IMAGE. */
async function buildIperfImage(d: Dockerd): Promise<void> {
  const iperf = (await execArgv(['sh', '-c', 'command -v iperf3'])).stdout.trim();
  if (iperf === '') throw new Error('iperf3 is not installed (apt-get install iperf3; .ci/install-packages has it)');
  const work = await mkdtemp(`${LAB_TMP_PREFIX}iperf-img-`);
  try {
    const root = await writeBusyboxRootfs(work);
    const libs = (await execArgv(['ldd', iperf])).stdout
      .split('\n')
      .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined);
    for (const file of [iperf, ...libs]) {
      await mkdir(join(root, dirname(file)), { recursive: true });
      await copyFile(file, join(root, file));
    }
    await execArgv(['chmod', '755', join(root, iperf)]);
    await d.docker(['import', '--change', 'CMD ["/bin/sh"]', await tarRootfs(root, join(work, 'rootfs.tar')), IMAGE], { timeoutMs: 120_000 });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface Path {
  name: string;
  host: string;
  port: number;
}

/** Gbit/s received in `SECONDS` with `streams` parallel streams from the container to host:port. */
async function iperf(d: Dockerd, container: string, path: Path, streams: number): Promise<number> {
  const r = await d.docker(
    ['exec', container, 'iperf3', '-c', path.host, '-p', String(path.port), '-t', String(SECONDS), '-O', '1', '-P', String(streams), '-J'],
    {
      allowFail: true,
      timeoutMs: (SECONDS + 30) * 1000,
    },
  );
  const out = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bps = out.end?.sum_received?.bits_per_second;
  if (r.code !== 0 || bps === undefined) throw new Error(`${path.name}: iperf3 -P ${streams} failed: ${out.error ?? r.stderr.trim()}`);
  return bps / 1e9;
}

function iperfServer(ns: Netns, bind: string, port: number, children: ChildProcess[]): Promise<void> {
  const child = ns.spawn(['iperf3', '-s', '--forceflush', '-B', bind, '-p', String(port)]);
  children.push(child);
  return waitOutput(child, 'Server listening');
}

const fmt = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark builds network namespaces: run it as root (sudo npm run bench)');
  const loadBefore = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  const ns = await createNetns('benchrelay');
  const root = await mkdtemp(`${LAB_TMP_PREFIX}bench-relay-`);
  const children: ChildProcess[] = [];
  try {
    const d = await startDockerd(ns);
    ns.onDestroy(() => d.stop());
    await buildIperfImage(d);
    const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none'], { env: d.env });
    if (up.code !== 0) throw new Error(`hostalias up failed: ${up.stderr}`);
    const gateway = await networkGateway(d);
    const ports = { direct: 5201, forward: 5202, all: 5203 };
    const all = await runCli(ns, ['expose', '--all', '--except', String(ports.forward), '--files-root', root], { env: d.env });
    if (all.code !== 0) throw new Error(`hostalias expose --all failed: ${all.stderr}`);
    await iperfServer(ns, '0.0.0.0', ports.direct, children);
    await iperfServer(ns, '127.0.0.1', ports.forward, children);
    await iperfServer(ns, '127.0.0.1', ports.all, children);
    const fwd = ns.spawn([process.execPath, cliPath(), 'forward', String(ports.forward), '--files-root', root]);
    children.push(fwd);
    await waitOutput(fwd, 'forwarding');
    const container = (await d.docker(['run', '-d', '--rm', IMAGE, 'sleep', '100000'])).stdout.trim();
    const direct: Path = { name: 'direct (container → 0.0.0.0 server at the bridge gateway)', host: gateway, port: ports.direct };
    const paths: Path[] = [
      { name: '`forward` (container → ALIAS → 127.0.0.1)', host: ALIAS, port: ports.forward },
      { name: '`expose --all` (container → ALIAS → 127.0.0.1, kernel rule)', host: ALIAS, port: ports.all },
    ];
    await sleep(300);
    const rows: Array<{ path: Path; streams: number; ratios: number[]; gbps: number[] }> = [];
    for (const path of paths) for (const streams of [1, 4]) rows.push({ path, streams, ratios: [], gbps: [] });
    const baseline: Record<number, number[]> = { 1: [], 4: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const streams of [1, 4]) {
        // The baseline is taken right before the paths it is compared with, in each run.
        const base = await iperf(d, container, direct, streams);
        baseline[streams]?.push(base);
        for (const row of rows.filter((r) => r.streams === streams)) {
          const g = await iperf(d, container, row.path, streams);
          row.gbps.push(g);
          row.ratios.push(g / base);
        }
      }
      process.stderr.write(`bench relays: run ${run + 1}/${RUNS} done\n`);
    }
    const head = `| path | streams | ${Array.from({ length: RUNS }, (_, i) => `run ${i + 1}`).join(' | ')} | target |`;
    const lines = [head, `|---|---:|${'---:|'.repeat(RUNS)}---|`];
    for (const streams of [1, 4]) lines.push(`| ${direct.name}, Gbit/s | ${streams} | ${(baseline[streams] ?? []).map(fmt).join(' | ')} | |`);
    for (const row of rows) {
      const target = row.path.port === ports.all ? 0.95 : 0.8;
      const held = row.ratios.filter((r) => r >= target).length;
      lines.push(
        `| ${row.path.name} | ${row.streams} | ${row.ratios.map((r, i) => `${fmt(r)}× (${fmt(row.gbps[i] ?? 0)})`).join(' | ')} | ≥ ${fmt(target)}× ${held === RUNS ? '✓' : `${held}/${RUNS}`} |`,
      );
    }
    const loadAfter = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
    const cpus = (await execArgv(['nproc'])).stdout.trim();
    process.stdout.write(
      `\n${lines.join('\n')}\n\n${cpus} CPUs, iperf3 ${SECONDS} s per figure (first second left out), ratios to the direct path measured in the same run; load average before ${loadBefore}, after ${loadAfter}\n`,
    );
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(300);
    await runCli(ns, ['down', '--files-root', root]).catch(() => undefined);
    await ns.destroy().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
