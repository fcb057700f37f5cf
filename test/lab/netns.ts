/**
 * Network namespaces for end-to-end tests.
 *
 * SAFETY: a namespace made here starts with only `lo` and no routes, so nothing
 * sent inside it can reach the machine's real network. Addresses are only ever
 * added inside such namespaces (see linkNetns), never in the root namespace.
 */
import { spawn as spawnChild } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { execArgv, labEnv, onLines, pidAlive, sleep, stopChild, waitFor } from './exec.js';
import type { ExecOptions, ExecResult } from './exec.js';
import { destroyNetnsSync, killPidsSync, NETNS_PREFIX, pidsInNetns, registerExitCleanup } from './cleanup.js';

export interface NetnsSpawnOptions {
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  /** Default: ['ignore', 'pipe', 'pipe']. */
  stdio?: StdioOptions | undefined;
}

export interface Netns {
  /** Name as listed by `ip netns list`, e.g. ha-lab-1234-0. */
  readonly name: string;
  /** '/run/netns/NAME' — what nsenter --net= and dockerd need. */
  readonly path: string;
  /** Run argv inside the namespace (nsenter --net=PATH -- argv...). Throws on non-zero unless allowFail. */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running process inside the namespace; it is killed by destroy(). */
  spawn(argv: readonly string[], opts?: NetnsSpawnOptions): ChildProcess;
  /** Run fn (newest first) at the start of destroy(), e.g. to stop a dockerd living here. */
  onDestroy(fn: () => Promise<void> | void): () => void;
  /** Run onDestroy hooks, kill every process still in the namespace, `ip netns del`. Idempotent. */
  destroy(): Promise<void>;
  readonly destroyed: boolean;
}

let nsCounter = 0;
let vethCounter = 0;

function sanitize(prefix: string): string {
  const s = prefix.toLowerCase().replace(/[^a-z0-9]+/g, '');
  return (s === '' ? 'ns' : s).slice(0, 12);
}

class NetnsImpl implements Netns {
  readonly name: string;
  readonly path: string;
  private readonly children = new Set<ChildProcess>();
  private readonly hooks: Array<() => Promise<void> | void> = [];
  private destroying: Promise<void> | undefined;
  private readonly unregisterExit: () => void;

  constructor(name: string) {
    this.name = name;
    this.path = `/run/netns/${name}`;
    this.unregisterExit = registerExitCleanup(() => destroyNetnsSync(name));
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.assertAlive();
    return execArgv(['nsenter', `--net=${this.path}`, '--', ...argv], opts);
  }

  spawn(argv: readonly string[], opts: NetnsSpawnOptions = {}): ChildProcess {
    this.assertAlive();
    const child = spawnChild('nsenter', [`--net=${this.path}`, '--', ...argv], {
      env: labEnv(opts.env),
      cwd: opts.cwd,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  onDestroy(fn: () => Promise<void> | void): () => void {
    this.hooks.push(fn);
    return () => {
      const i = this.hooks.indexOf(fn);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    const errors: unknown[] = [];
    while (this.hooks.length > 0) {
      const fn = this.hooks.pop();
      try {
        await fn?.();
      } catch (e) {
        errors.push(e);
      }
    }
    // Processes we spawned: polite first.
    const kids = [...this.children].filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
    for (const c of kids) c.kill('SIGTERM');
    await waitFor(() => kids.every((c) => c.exitCode !== null || c.signalCode !== null), 3000, 50);
    for (const c of kids) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // Anything else still living in the namespace (orphans, docker-proxy, ...).
    for (let i = 0; i < 50; i++) {
      const left = pidsInNetns(this.path).filter(pidAlive);
      if (left.length === 0) break;
      killPidsSync(left, 'SIGKILL');
      await sleep(100);
    }
    const r = await execArgv(['ip', 'netns', 'del', this.name], { allowFail: true, timeoutMs: 30_000 });
    if (r.code !== 0 && existsSync(this.path)) {
      errors.push(new Error(`ip netns del ${this.name} failed: ${r.stderr.trim()}`));
    } else {
      this.unregisterExit();
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `destroying netns ${this.name}: ${errors.length} errors`);
  }

  private assertAlive(): void {
    if (this.destroying !== undefined) throw new Error(`netns ${this.name} has been destroyed`);
  }
}

/** Create a fresh network namespace (only `lo`, up; no routes) named ha-<prefix>-<pid>-<n>. */
export async function createNetns(prefix: string): Promise<Netns> {
  const name = `${NETNS_PREFIX}${sanitize(prefix)}-${process.pid}-${nsCounter++}`;
  await execArgv(['ip', 'netns', 'add', name]);
  const ns = new NetnsImpl(name);
  try {
    await execArgv(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    await ns.destroy().catch(() => undefined);
    throw e;
  }
  return ns;
}

/** createNetns + t.after(destroy). */
export async function withNetns(t: Pick<TestContext, 'after'>, prefix: string): Promise<Netns> {
  const ns = await createNetns(prefix);
  t.after(() => ns.destroy());
  return ns;
}

export interface NetnsLink {
  /** Interface name inside a / b. */
  aIf: string;
  bIf: string;
  /** Addresses without prefix length. */
  aIp: string;
  bIp: string;
}

/**
 * Join two lab namespaces with a veth pair; aAddr/bAddr are CIDRs such as
 * '198.51.100.1/24' and '198.51.100.2/24' (IPv6 works too). The pair is created
 * directly inside the namespaces, never in the root namespace. Interface names
 * default to hl<n>a / hl<n>b (≤ 15 chars).
 */
export async function linkNetns(a: Netns, b: Netns, aAddr: string, bAddr: string, opts: { aIf?: string; bIf?: string } = {}): Promise<NetnsLink> {
  const n = vethCounter++;
  const aIf = opts.aIf ?? `hl${n}a`;
  const bIf = opts.bIf ?? `hl${n}b`;
  for (const ifn of [aIf, bIf]) if (ifn.length > 15) throw new Error(`interface name too long: ${ifn}`);
  await execArgv(['ip', '-n', a.name, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  await execArgv(['ip', '-n', a.name, 'addr', 'add', aAddr, 'dev', aIf]);
  await execArgv(['ip', '-n', b.name, 'addr', 'add', bAddr, 'dev', bIf]);
  await execArgv(['ip', '-n', a.name, 'link', 'set', aIf, 'up']);
  await execArgv(['ip', '-n', b.name, 'link', 'set', bIf, 'up']);
  return { aIf, bIf, aIp: stripPrefix(aAddr), bIp: stripPrefix(bAddr) };
}

function stripPrefix(cidr: string): string {
  const i = cidr.indexOf('/');
  return i < 0 ? cidr : cidr.slice(0, i);
}

/* ------------------------------------------------------------ TCP helpers */

export interface ReplyServer {
  host: string;
  port: number;
  /** One entry per accepted connection, in order. */
  readonly connections: ReadonlyArray<{ remoteAddress: string; remotePort: number; localAddress: string }>;
  stop(): Promise<void>;
}

const REPLY_SERVER_JS = `
const net = require('node:net');
const [host, port, reply] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const srv = net.createServer((s) => {
  process.stdout.write(JSON.stringify({ conn: { remoteAddress: s.remoteAddress, remotePort: s.remotePort, localAddress: s.localAddress } }) + '\\n');
  s.on('error', () => {});
  s.end(reply);
});
srv.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
srv.listen({ host, port }, () => process.stdout.write(JSON.stringify({ listening: srv.address().port }) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * Start a TCP server inside `ns` (node, via nsenter) that answers every connection
 * with `reply` and closes it. Resolves once it listens. Killed by stop() or ns.destroy().
 */
export async function startReplyServer(ns: Netns, opts: { host?: string; port?: number; reply?: string; timeoutMs?: number } = {}): Promise<ReplyServer> {
  const host = opts.host ?? '0.0.0.0';
  const reply = opts.reply ?? 'hello\n';
  const child = ns.spawn([process.execPath, '-e', REPLY_SERVER_JS, '--', host, String(opts.port ?? 0), reply]);
  const connections: Array<{ remoteAddress: string; remotePort: number; localAddress: string }> = [];
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`reply server in ${ns.name} did not start: ${stderr}`));
    }, opts.timeoutMs ?? 10_000);
    onLines(child.stdout, (line) => {
      const msg = JSON.parse(line) as {
        listening?: number;
        conn?: { remoteAddress: string; remotePort: number; localAddress: string };
      };
      if (msg.listening !== undefined) {
        clearTimeout(timer);
        resolve(msg.listening);
      }
      if (msg.conn !== undefined) connections.push(msg.conn);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`reply server in ${ns.name} exited (${code}): ${stderr}`));
    });
  });
  return {
    host,
    port,
    connections,
    async stop() {
      await stopChild(child, 3000);
    },
  };
}

const TCP_REQUEST_JS = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.setTimeout(Number(process.argv[3]), () => { process.stderr.write('timeout\\n'); process.exit(2); });
s.on('error', (e) => { process.stderr.write(String(e.code || e) + '\\n'); process.exit(1); });
s.pipe(process.stdout);
s.end(process.argv[4] || '');
`;

/** Connect from inside `ns` to host:port, send `send` (optional), return what the peer sent back. */
export async function tcpRequest(ns: Netns, host: string, port: number, opts: { send?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return ns.exec([process.execPath, '-e', TCP_REQUEST_JS, '--', host, String(port), String(timeoutMs), opts.send ?? ''], {
    allowFail: true,
    timeoutMs: timeoutMs + 5000,
  });
}

/* ------------------------------------------------------------------- CLI */

let cachedRoot: string | undefined;

/**
 * The repository root: HOSTALIAS_REPO_ROOT if set, else the nearest ancestor of this
 * (compiled) file whose package.json is named "hostalias", else the nearest ancestor
 * with any package.json, else the same search from the current directory.
 */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const fromEnv = process.env['HOSTALIAS_REPO_ROOT'];
  if (fromEnv !== undefined && fromEnv !== '') return (cachedRoot = fromEnv);
  const found =
    findUp(dirname(fileURLToPath(import.meta.url)), true) ??
    findUp(process.cwd(), true) ??
    findUp(dirname(fileURLToPath(import.meta.url)), false) ??
    findUp(process.cwd(), false);
  if (found === undefined) throw new Error('cannot find the hostalias repository root (set HOSTALIAS_REPO_ROOT)');
  return (cachedRoot = found);
}

function findUp(start: string, requireName: boolean): string | undefined {
  let dir = start;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      if (!requireName) return dir;
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === 'hostalias') return dir;
      } catch {
        // unreadable: keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Path of the built CLI entry point. */
export function cliPath(): string {
  return join(repoRoot(), 'dist', 'cli', 'main.js');
}

export interface RunCliOptions {
  env?: NodeJS.ProcessEnv | undefined;
  input?: string | undefined;
  timeoutMs?: number | undefined;
  cwd?: string | undefined;
}

/**
 * Run `node <repo>/dist/cli/main.js ...args` inside the namespace. Never throws on
 * a non-zero exit: returns {code, stdout, stderr}.
 */
export async function runCli(ns: Netns, args: readonly string[], opts: RunCliOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await ns.exec([process.execPath, cliPath(), ...args], {
    env: opts.env,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 60_000,
    cwd: opts.cwd,
    allowFail: true,
  });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
