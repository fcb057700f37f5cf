/**
 * The resolver of `up --dns`, measured in one run inside a namespace of its own (the alias, a
 * dnsmasq on 127.0.0.2 as the host's split DNS, a second on 198.51.100.53 as the fallback):
 * - latency p50/p99 of a recorded name and of a forwarded name through the resolver, against the
 *   same forwarded name asked of dnsmasq directly (paired rounds; ratios within this run);
 * - throughput: the highest offered rate (queries/s of a recorded name) answered with <= 1% loss,
 *   client and resolver sharing this machine's cores;
 * - the resolver's RSS after that load (VmHWM: its peak);
 * - the restart gap: the resolver killed (SIGKILL) and started again 1 s later, as its unit's
 *   RestartSec=1 would (no systemd runs in the namespace), while glibc's getent asks every 50 ms
 *   with the resolv.conf a container on Docker's default bridge gets ([alias, fallback]): the
 *   worst lookup time seen.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_TMP_PREFIX } from '../test/lab/cleanup.js';
import { sleep, stopChild } from '../test/lab/exec.js';
import { cliPath, createNetns, type Netns } from '../test/lab/netns.js';
import { FALLBACK_DNS, HOSTS_TEXT, SPLIT_DNS, startDnsmasq } from '../test/e2e/dns-lab.js';

const ALIAS = '10.254.254.254';
const LOAD = join(dirname(fileURLToPath(import.meta.url)), 'dns-load.js');

async function startResolver(ns: Netns, root: string): Promise<ChildProcess> {
  const child = ns.spawn([process.execPath, cliPath(), 'resolver', '--files-root', root, '--listen', ALIAS]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`resolver exited ${code}: ${out}`)));
  });
  return child;
}

async function rss(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

async function main(): Promise<void> {
  const ns = await createNetns('dnsbench');
  const root = await mkdtemp(`${LAB_TMP_PREFIX}dnsbench-`);
  try {
    await writeFile(join(root, 'owner.pid'), `${process.pid}\n`);
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/hosts'), HOSTS_TEXT);
    await writeFile(join(root, 'etc/resolv.conf'), `nameserver ${SPLIT_DNS}\n`);
    await ns.exec(['ip', 'addr', 'add', `${ALIAS}/32`, 'dev', 'lo']);
    await ns.exec(['ip', 'addr', 'add', `${SPLIT_DNS}/8`, 'dev', 'lo']);
    await ns.exec(['ip', 'addr', 'add', `${FALLBACK_DNS}/32`, 'dev', 'lo']);
    await startDnsmasq(ns, root, SPLIT_DNS);
    await startDnsmasq(ns, root, FALLBACK_DNS);
    let resolver = await startResolver(ns, root);
    const load = async (args: string[]) => JSON.parse((await ns.exec([process.execPath, LOAD, ...args], { timeoutMs: 300_000 })).stdout.trim());

    const lat = (await load(['latency', ALIAS, SPLIT_DNS, '3000'])) as Record<string, { p50: number; p99: number; lost: number }>;
    const f = (x: number) => x.toFixed(3);
    console.log('latency (ms), 3000 paired rounds:');
    for (const k of ['recorded', 'forwarded', 'direct'])
      console.log(`  ${k.padEnd(10)} p50 ${f(lat[k]?.p50 ?? Number.NaN)}  p99 ${f(lat[k]?.p99 ?? Number.NaN)}  lost ${lat[k]?.lost}`);
    const direct = lat['direct'] ?? { p50: Number.NaN, p99: Number.NaN };
    console.log(
      `  forwarded / direct: p50 ${((lat['forwarded']?.p50 ?? 0) / direct.p50).toFixed(2)}x (goal <= 1.3x), p99 ${((lat['forwarded']?.p99 ?? 0) / direct.p99).toFixed(2)}x`,
    );
    console.log(
      `  recorded / upstream's own answer: p50 ${((lat['recorded']?.p50 ?? 0) / direct.p50).toFixed(2)}x (goal <= 1x), p99 ${((lat['recorded']?.p99 ?? 0) / direct.p99).toFixed(2)}x`,
    );

    let best = 0;
    for (const qps of [5000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000]) {
      const r = (await load(['rate', ALIAS, 'host.docker.internal', String(qps), '3'])) as { loss: number; achieved: number };
      console.log(`throughput: offered ${qps}/s (sent ${Math.round(r.achieved)}/s): loss ${(r.loss * 100).toFixed(2)}%`);
      if (r.loss > 0.01) break;
      best = qps;
    }
    console.log(`throughput at <= 1% loss: ${best} queries/s of a recorded name (goal >= 20000)`);
    const mem = await rss(resolver.pid ?? 0);
    console.log(`resolver RSS after the load: ${mem.rssMb.toFixed(1)} MB, peak ${mem.peakMb.toFixed(1)} MB (goal <= 60 MB)`);

    // The restart gap, glibc asking as a default-bridge container would.
    const probe = `printf 'nameserver ${ALIAS}\\nnameserver ${FALLBACK_DNS}\\n' > ${root}/resolv.gap && mount --bind ${root}/resolv.gap /etc/resolv.conf && mount --bind ${root}/etc/hosts /etc/hosts && i=0; while [ $i -lt 60 ]; do s=$(date +%s%N); getent ahostsv4 vpn-only.corp.example >/dev/null || echo FAIL; e=$(date +%s%N); echo $(( (e - s) / 1000 )); sleep 0.05; i=$((i+1)); done`;
    const gap = ns.spawn(['unshare', '--mount', '--', 'sh', '-c', probe]);
    let gapOut = '';
    gap.stdout?.on('data', (b: Buffer) => (gapOut += b.toString()));
    const done = new Promise<void>((r) => gap.once('exit', () => r()));
    await sleep(700);
    resolver.kill('SIGKILL');
    await sleep(1000);
    resolver = await startResolver(ns, root);
    await done;
    const us = gapOut
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    const fails = gapOut.split('\n').filter((l) => l === 'FAIL').length;
    const slow = us.filter((x) => x > 100_000).map((x) => `${(x / 1000).toFixed(0)} ms`);
    console.log(
      `restart gap (SIGKILL, started again after 1 s as RestartSec=1 would): ${us.length} lookups every 50 ms, worst ${(Math.max(...us) / 1000).toFixed(1)} ms, median ${(us.sort((x, y) => x - y)[Math.floor(us.length / 2)] ?? 0) / 1000} ms, failed ${fails}; over 100 ms: ${slow.join(', ') || 'none'}`,
    );
    await stopChild(resolver, 3000);
  } finally {
    await ns.destroy();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
