/**
 * `npm run bench`: userspace `forward`, kernel `expose` and socat against a direct connection,
 * measured in one run in a namespace lab, printed as a markdown table of ratios to the baseline.
 *
 * Lab: a "host" namespace with no uplink and a "container" namespace joined by a veth
 * (198.51.100.0/24, TEST-NET-2). The alias is added in the host namespace by the CLI
 * (`up --files-root TMP`), with the veth allowed through the LAN guard (`--allow-iface`), as a docker
 * bridge would be. The load generator (bench/load.ts) runs in the container namespace, the
 * servers in the host namespace. Nothing touches the root namespace; namespaces and processes
 * are removed on exit, failure or Ctrl-C (test/lab cleanup handlers).
 * Needs root, iproute2, nft (for expose) and socat.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execArgv, sleep, waitOutput } from '../test/lab/exec.js';
import { cliPath, createNetns, linkNetns, runCli, type Netns } from '../test/lab/netns.js';
import { LAB_TMP_PREFIX } from '../test/lab/cleanup.js';

const ALIAS = '10.254.254.254';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '3');
const ONLY = (process.env['BENCH_ONLY'] ?? '').split(',').filter((o) => o !== '');
const LOAD = join(dirname(fileURLToPath(import.meta.url)), 'load.js');
const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

interface Row {
  name: string;
  host: string;
  port: number;
  /** Starts the relay (if any); returns the pid whose CPU is measured, or null. */
  start?: () => Promise<number | null>;
  na?: string;
}

interface Result {
  tput1: number;
  tput4: number;
  p50: number;
  p99: number;
  cps: number;
  cpu: number | null;
}

/** CPU seconds of pid and its live children, plus reaped children (socat's per-connection forks). */
function cpuSeconds(pid: number): number {
  const stat = (p: number): number[] => {
    try {
      const text = readFileSync(`/proc/${p}/stat`, 'utf8');
      return text
        .slice(text.lastIndexOf(')') + 2)
        .split(' ')
        .map(Number);
    } catch {
      return [];
    }
  };
  const mine = stat(pid); // fields after comm: [0]=state [1]=ppid … [11]=utime [12]=stime [13]=cutime [14]=cstime
  let ticks = (mine[11] ?? 0) + (mine[12] ?? 0) + (mine[13] ?? 0) + (mine[14] ?? 0);
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = stat(Number(e));
    if (s[1] === pid) ticks += (s[11] ?? 0) + (s[12] ?? 0);
  }
  return ticks / TICK;
}

async function client(ns: Netns, row: Row, args: string[]): Promise<Record<string, number>> {
  const r = await ns.exec([process.execPath, LOAD, 'client', row.host, String(row.port), ...args], { timeoutMs: (SECONDS + 30) * 1000, allowFail: true });
  if (r.code !== 0) throw new Error(`${row.name}: load client ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim()) as Record<string, number>;
}

async function measure(ns: Netns, row: Row, pid: number | null): Promise<Result> {
  const cpu0 = pid ? cpuSeconds(pid) : 0;
  const t0 = Date.now();
  const tput1 = (await client(ns, row, ['tput', '1', String(SECONDS)]))['gbps'] ?? 0;
  const tput4 = (await client(ns, row, ['tput', '4', String(SECONDS)]))['gbps'] ?? 0;
  const lat = await client(ns, row, ['latency', String(Math.max(1, SECONDS - 1))]);
  const cps = await client(ns, row, ['connect', '32', String(SECONDS)]);
  if ((cps['failed'] ?? 0) > 0) process.stderr.write(`note: ${row.name}: ${cps['failed']} connections failed\n`);
  const cpu = pid ? (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000) : null;
  return { tput1, tput4, p50: lat['p50us'] ?? 0, p99: lat['p99us'] ?? 0, cps: cps['perSec'] ?? 0, cpu };
}

async function waitListening(ns: Netns, host: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await ns.exec(['ss', '-Hltn', `sport = :${port}`], { allowFail: true });
    if (r.stdout.includes(`${host}:${port}`)) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const ratio = (x: number, base: number) => (base > 0 ? `${fmt(x / base)}×` : '–');

function table(rows: Array<{ row: Row; res: Result | null }>): string {
  const base = rows[0]?.res;
  const head = '| path | 1 stream Gbit/s | 4 streams Gbit/s | RTT p50 µs | RTT p99 µs | new conn/s | relay CPU (cores) |';
  const lines = [head, '|---|---|---|---|---|---|---|'];
  for (const { row, res } of rows) {
    if (!res || !base) {
      lines.push(`| ${row.name} | ${row.na ?? 'n/a'} | | | | | |`);
      continue;
    }
    const cell = (v: number, b: number, d = 2) => (res === base ? fmt(v, d) : `${fmt(v, d)} (${ratio(v, b)})`);
    lines.push(
      `| ${row.name} | ${cell(res.tput1, base.tput1)} | ${cell(res.tput4, base.tput4)} | ${cell(res.p50, base.p50, 0)} | ${cell(res.p99, base.p99, 0)} | ${cell(res.cps, base.cps, 0)} | ${res.cpu === null ? (row.name.startsWith('expose') ? 'kernel' : '–') : fmt(res.cpu)} |`,
    );
  }
  return lines.join('\n');
}

interface PairedLatency {
  forward: { p50us: number; p99us: number };
  socat: { p50us: number; p99us: number };
}

/** The default forward and socat to one target: the rows, and the paired round trips through both. */
interface VersusSocat {
  target: string;
  fwd: Result;
  soc: Result;
  pair: PairedLatency;
}

/**
 * The target: the default relay at least equal to socat on each figure (≥ 2× on new
 * connections). Throughput and new connections come from the rows; p50 and p99 from a paired run
 * (`latency-pair`: one client taking round trips through both, in turn), because a tail measured
 * seconds apart mostly compares what else the 2 CPUs were doing at the time.
 */
function versusSocat(comparisons: readonly VersusSocat[]): string {
  return comparisons
    .map(({ target, fwd, soc, pair }) => {
      const figures: Array<[string, number, number, boolean, number]> = [
        ['1 stream', fwd.tput1, soc.tput1, true, 1],
        ['4 streams', fwd.tput4, soc.tput4, true, 1],
        ['p50 (paired)', pair.forward.p50us, pair.socat.p50us, false, 1],
        ['p99 (paired)', pair.forward.p99us, pair.socat.p99us, false, 1],
        ['new conn/s', fwd.cps, soc.cps, true, 2],
      ];
      const cells = figures.map(([name, f, s, higherIsBetter, factor]) => {
        const held = higherIsBetter ? f >= factor * s : f <= s;
        return `${name} ${fmt(f / s)}× ${held ? 'held' : 'NOT held'}`;
      });
      const µs = (x: { p50us: number; p99us: number }) => `${fmt(x.p50us, 0)}/${fmt(x.p99us, 0)}`;
      return `forward vs socat → ${target}: ${cells.join(', ')} (paired p50/p99 µs: forward ${µs(pair.forward)}, socat ${µs(pair.socat)})`;
    })
    .join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark builds network namespaces: run it as root (sudo npm run bench)');
  const started = Date.now();
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const host = await createNetns('benchhost');
  const cont = await createNetns('benchcont');
  const root = await mkdtemp(`${LAB_TMP_PREFIX}bench-`);
  const children: ChildProcess[] = [];
  try {
    const link = await linkNetns(host, cont, '198.51.100.1/24', '198.51.100.2/24');
    await cont.exec(['ip', 'route', 'add', `${ALIAS}/32`, 'via', link.aIp]);
    // The connection test leaves one TIME_WAIT per connection on the closing side (the client, and
    // the relay's side towards the server): a wide port range keeps ports from running out in
    // either namespace (these sysctls are per namespace).
    for (const ns of [host, cont]) await ns.exec(['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
    const up = await runCli(host, ['up', '--files-root', root, '--persist', 'none', '--allow-iface', link.aIf]);
    if (up.code !== 0) throw new Error(`hostalias up failed: ${up.stderr}`);

    const ports = { direct: 5201, expose: 5202, forward: 5203, forwardRr: 5204, forward1: 5205, socat: 5206, forward6: 5207, socat6: 5208, forwardJs: 5209 };
    // The v6 rows' server listens on [::1] only, as a dev server started on `localhost` does.
    const v4Ports = [ports.expose, ports.forward, ports.forwardRr, ports.forward1, ports.socat, ports.forwardJs];
    const server = host.spawn([
      process.execPath,
      LOAD,
      'server',
      `0.0.0.0:${ports.direct}`,
      ...v4Ports.map((p) => `127.0.0.1:${p}`),
      `[::1]:${ports.forward6}`,
      `[::1]:${ports.socat6}`,
    ]);
    children.push(server);
    await waitOutput(server, 'ready');

    const forward =
      (port: number, extra: string[], env: NodeJS.ProcessEnv = {}) =>
      async () => {
        const child = host.spawn([process.execPath, cliPath(), 'forward', String(port), '--files-root', root, ...extra], { env: { ...process.env, ...env } });
        children.push(child);
        await waitOutput(child, 'forwarding');
        return child.pid ?? null;
      };
    const socat = (port: number, target: string) => async () => {
      const child = host.spawn(['socat', `TCP-LISTEN:${port},bind=${ALIAS},fork,reuseaddr`, target]);
      children.push(child);
      await waitListening(host, ALIAS, port);
      return child.pid ?? null;
    };
    const fwd4: Row = { name: 'forward → 127.0.0.1 (default: 1 process)', host: ALIAS, port: ports.forward1, start: forward(ports.forward1, []) };
    const soc4: Row = { name: 'socat (fork) → 127.0.0.1', host: ALIAS, port: ports.socat, start: socat(ports.socat, `TCP:127.0.0.1:${ports.socat}`) };
    const fwd6: Row = { name: 'forward → [::1] (default: 1 process)', host: ALIAS, port: ports.forward6, start: forward(ports.forward6, []) };
    const soc6: Row = { name: 'socat (fork) → [::1]', host: ALIAS, port: ports.socat6, start: socat(ports.socat6, `TCP6:[::1]:${ports.socat6}`) };
    const rows: Row[] = [
      { name: 'direct veth (baseline)', host: link.aIp, port: ports.direct },
      {
        name: 'expose (kernel DNAT)',
        host: ALIAS,
        port: ports.expose,
        start: async () => {
          const r = await runCli(host, ['expose', String(ports.expose), '--files-root', root]);
          if (r.code !== 0) throw new Error(`hostalias expose failed: ${r.stderr}${r.stdout}`);
          return null;
        },
      },
      { name: 'forward (2 workers, kernel accept)', host: ALIAS, port: ports.forward, start: forward(ports.forward, ['--workers', '2']) },
      {
        name: 'forward (2 workers, round-robin)',
        host: ALIAS,
        port: ports.forwardRr,
        start: forward(ports.forwardRr, ['--workers', '2', '--schedule', 'round-robin']),
      },
      // The default relay, as `forward PORT` and `expose` of a ::1 service run it: 1 process, loopback pair.
      fwd4,
      soc4,
      fwd6,
      soc6,
      // Where the C data path can't load (not Linux, no compiler at build time): the JavaScript copy.
      {
        name: 'forward → 127.0.0.1 (JavaScript data path)',
        host: ALIAS,
        port: ports.forwardJs,
        start: forward(ports.forwardJs, [], { HOSTALIAS_RELAY: 'js' }),
      },
    ];
    const results: Array<{ row: Row; res: Result | null }> = [];
    for (const row of rows) {
      // BENCH_ONLY=socat,forward (substrings of row names) measures fewer rows; the baseline always runs.
      if (ONLY.length > 0 && row !== rows[0] && !ONLY.some((o) => row.name.includes(o))) continue;
      if (row.na) {
        results.push({ row, res: null });
        continue;
      }
      process.stderr.write(`bench: ${row.name}…\n`);
      try {
        const pid = row.start ? await row.start() : null;
        await sleep(300);
        results.push({ row, res: await measure(cont, row, pid) });
      } catch (err) {
        process.stderr.write(`bench: ${row.name} failed: ${(err as Error).message}\n`);
        results.push({ row: { ...row, na: `failed: ${(err as Error).message.split('\n')[0]}` }, res: null });
      }
    }
    const comparisons: VersusSocat[] = [];
    for (const [target, fwdRow, socRow] of [
      ['127.0.0.1', fwd4, soc4],
      ['[::1]', fwd6, soc6],
    ] as const) {
      const fwd = results.find((r) => r.row === fwdRow)?.res;
      const soc = results.find((r) => r.row === socRow)?.res;
      if (!fwd || !soc) continue;
      const r = await cont.exec([process.execPath, LOAD, 'client', ALIAS, String(fwdRow.port), 'latency-pair', String(socRow.port), String(SECONDS * 2)], {
        timeoutMs: (SECONDS * 2 + 30) * 1000,
      });
      const both = JSON.parse(r.stdout.trim()) as { a: PairedLatency['forward']; b: PairedLatency['socat'] };
      comparisons.push({ target, fwd, soc, pair: { forward: both.a, socat: both.b } });
    }
    const cpus = (await execArgv(['nproc'])).stdout.trim();
    process.stdout.write(`\n${table(results)}\n\n${versusSocat(comparisons)}\n`);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    process.stdout.write(
      `${cpus} CPUs, ${SECONDS} s per figure, load generator and servers in Node on the same CPUs; ratios are to the baseline row; total ${Math.round((Date.now() - started) / 1000)} s; load average before ${loadBefore}, after ${load}\n`,
    );
    if (Number(loadBefore.split(' ')[0]) > Number(cpus) / 2)
      process.stdout.write('warning: the machine was busy before the run started: the figures are noisy, run again on an idle machine\n');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(300);
    await runCli(host, ['down', '--files-root', root]).catch(() => undefined);
    await cont.destroy().catch(() => undefined);
    await host.destroy().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
