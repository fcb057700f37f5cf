/**
 * Minimal process helpers for the end-to-end test lab.
 *
 * Everything is argv based (never a shell string) and runs with LC_ALL=C so
 * that parsed output of ip/iptables/docker is stable.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface ExecOptions {
  /** Full environment for the child. Defaults to process.env. LC_ALL=C is always forced. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer | undefined;
  /** Kill the child with SIGKILL after this many ms (default: 120 000). The result has code 124. */
  timeoutMs?: number | undefined;
  /** Do not throw on a non-zero exit code / signal / timeout. */
  allowFail?: boolean | undefined;
  cwd?: string | undefined;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Signal that ended the child, if any. */
  signal: NodeJS.Signals | null;
  /** True if the child was killed because timeoutMs elapsed. */
  timedOut: boolean;
  /** Wall time in ms. */
  ms: number;
}

export class ExecError extends Error {
  readonly argv: readonly string[];
  readonly result: ExecResult;
  constructor(argv: readonly string[], result: ExecResult) {
    const why = result.timedOut
      ? `timed out after ${result.ms} ms`
      : result.signal !== null
        ? `was killed by ${result.signal}`
        : `exited with code ${result.code}`;
    super(`command ${JSON.stringify(argv)} ${why}\n` + `--- stderr ---\n${tail(result.stderr, 4000)}\n--- stdout ---\n${tail(result.stdout, 2000)}`);
    this.name = 'ExecError';
    this.argv = argv;
    this.result = result;
  }
}

export const DEFAULT_TIMEOUT_MS = 120_000;

export function labEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, LC_ALL: 'C', LANG: 'C' };
}

/** Run argv[0] with argv[1..]; resolves with the exit status and captured output. */
export function execArgv(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) return Promise.reject(new Error('execArgv: empty argv'));
  const [cmd, ...args] = argv as [string, ...string[]];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: labEnv(opts.env),
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      spawnError = e;
    });
    if (opts.input !== undefined && child.stdin) {
      // EPIPE if the child does not read its stdin: not an error for us.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (spawnError !== undefined && code === null && signal === null) {
        reject(new Error(`cannot run ${JSON.stringify(argv)}: ${spawnError.message}`));
        return;
      }
      const result: ExecResult = {
        code: timedOut ? 124 : (code ?? (signal !== null ? 128 + signalNumber(signal) : -1)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        signal,
        timedOut,
        ms: Date.now() - started,
      };
      if (result.code !== 0 && opts.allowFail !== true) reject(new ExecError(argv, result));
      else resolve(result);
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[sig] ?? 0;
}

export function tail(s: string, max: number): string {
  return s.length <= max ? s : `…${s.slice(s.length - max)}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Resolve with p's value, or with TIMEOUT after ms. The timer is
 * cleared either way, so it never keeps the event loop (and the test file) alive.
 */
export const TIMEOUT: unique symbol = Symbol('timeout');
export async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<typeof TIMEOUT>((r) => {
    timer = setTimeout(() => r(TIMEOUT), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** True if a process with this pid exists (zombies count as gone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); treat it as gone.
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true; // vanished between the two checks
  }
}

/** Poll `check` every `intervalMs` until it returns true or `timeoutMs` elapses. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Absolute path of an executable found on PATH (like `command -v`), or undefined. */
export function which(cmd: string, pathEnv: string = process.env['PATH'] ?? ''): string | undefined {
  const dirs = cmd.includes('/') ? [''] : pathEnv.split(delimiter).filter((d) => d !== '');
  for (const d of dirs) {
    const p = d === '' ? cmd : join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Calls `fn` with each line a child prints (its JSON status lines); nothing when there is no stream. */
export function onLines(stream: Readable | null | undefined, fn: (line: string) => void): void {
  if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', fn);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code once `child` is gone. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(kill);
  return code;
}

/** Resolves once `child` printed `needle` (stdout or stderr); rejects when it exits first or after `ms`. */
export function waitOutput(child: ChildProcess, needle: string, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${needle}" within ${ms} ms: ${out}`)), ms);
    const on = (b: Buffer) => {
      out += b.toString();
      if (out.includes(needle)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${needle}": ${out}`));
    });
  });
}
