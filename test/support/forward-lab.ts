/**
 * Helpers for the forward relay tests: servers on 127.0.0.1, relays listening on 127.0.0.2
 * (another loopback address: the stand-in for the alias, no address is ever added), and the
 * relay as a real CLI child process whose fds and RSS can be read from /proc.
 * Traffic stays on 127.0.0.0/8.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onLines } from '../lab/exec.js';

export const RELAY_HOST = '127.0.0.2';

/**
 * Descriptors a relay process may keep once traffic has passed: the empty pipes each thread of the
 * C data path keeps for reuse (at most 16 pipes, 32 descriptors, per thread; a thread per CPU).
 */
export const PIPE_POOL_FDS = 32 * availableParallelism();

export function repoDir(): string {
  // build/test/support/forward-lab.js → repository root
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

export function cliMain(): string {
  return join(repoDir(), 'dist', 'cli', 'main.js');
}

export async function listen(server: net.Server, host = '127.0.0.1', port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port with nothing listening on 127.0.0.1 (and, very likely, on 127.0.0.2). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await closeServer(s);
  return port;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The pid and its direct children (a relay's cluster workers). */
export function withChildren(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return [pid, ...(children ? children.split(/\s+/).map(Number) : [])];
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Soft and hard RLIMIT_NOFILE of a process. */
export function nofileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const line =
    readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/);
  const num = (s: string | undefined) => (s === 'unlimited' ? 1 << 20 : Number(s));
  return { soft: num(soft), hard: num(hard) };
}

export interface RelayChild {
  proc: ChildProcess;
  pid: number;
  lines: string[];
  stderr(): string;
  /** Resolves with the exit code (or 128+signal). */
  exited: Promise<number>;
  kill(sig?: NodeJS.Signals): Promise<number>;
}

/**
 * Runs `hostalias forward PORT --listen 127.0.0.2 --json …` as a child (optionally under
 * `prlimit --nofile`), resolves once it printed its listening event.
 */
export async function spawnRelay(port: number, args: string[] = [], opts: { nofile?: number } = {}): Promise<RelayChild> {
  const argv = [process.execPath, cliMain(), 'forward', String(port), '--listen', RELAY_HOST, '--json', ...args];
  const full = opts.nofile ? ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, '--', ...argv] : argv;
  const proc = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  proc.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${err}`)), 15_000);
    onLines(proc.stdout, (line) => {
      lines.push(line);
      if (line.includes('"listening"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}) before listening: ${err}`));
    });
  });
  return {
    proc,
    pid: proc.pid as number,
    lines,
    stderr: () => err,
    exited,
    async kill(sig: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Connects, resolves on 'connect' (rejects on error). */
export function connect(port: number, host = RELAY_HOST, opts: { allowHalfOpen?: boolean } = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: opts.allowHalfOpen ?? false });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Collects what a socket receives until it ends or errors. */
export function readAll(s: net.Socket): Promise<{ data: Buffer; error: NodeJS.ErrnoException | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | null = null;
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e) => (error = e));
    s.once('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` every 50 ms until it holds or `ms` pass; resolves with the last answer. */
export async function waitUntil(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN-SENT',
  '03': 'SYN-RECV',
  '04': 'FIN-WAIT-1',
  '05': 'FIN-WAIT-2',
  '06': 'TIME-WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE-WAIT',
  '09': 'LAST-ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/** The kernel's states of the IPv4 TCP sockets from local port `port` (to `peer`, if given), not listening, from /proc/net/tcp. */
export async function tcpStates(port: number, peer?: number): Promise<string[]> {
  const hex = (p: number) => `:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(hex(port)) && (peer === undefined || f[2]?.endsWith(hex(peer))) && f[3] !== '0A')
    .map((f) => TCP_STATES[f[3] ?? ''] ?? (f[3] as string));
}
