import { spawn } from 'node:child_process';
import { HostaliasError } from '../model/errors.js';
import type { RunOptions, RunResult, Runner } from '../model/runner.js';
import { shellQuote } from '../model/shell.js';
import { findTool } from '../fs/which.js';

/** What a tool prints when it may not do what was asked without root (ip, nft, iptables, sysctl). */
export const NEEDS_ROOT_OUTPUT = /Operation not permitted|Permission denied|you must be root/i;

/** How long a timed-out process gets between SIGTERM and SIGKILL, and after SIGKILL. */
const KILL_GRACE_MS = 1_000;

/** Runs real processes with LC_ALL=C so their output parses the same on every locale. */
export class ProcessRunner implements Runner {
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('ProcessRunner.run: empty argv');
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, LC_ALL: 'C' };
    // nft, ip and sysctl are in /usr/sbin, which a normal user's PATH lacks: found there too.
    // Where findTool finds nothing, the program is not installed: no spawn to learn that again.
    const program = findTool(file, env['PATH']);
    if (program === null) return Promise.resolve({ code: 127, stdout: '', stderr: `${file}: command not found` });
    return new Promise((resolve) => {
      const child = spawn(program, args, {
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      // Our own timer, not spawn's `timeout`: Node leaves that one running when spawn fails
      // (ENOENT emits no 'exit'), which kept the process alive for the full timeout.
      let timedOut = false;
      let settled = false;
      let stdout = '';
      let stderr = '';
      const finish = (res: RunResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(killTimer);
        clearTimeout(giveUpTimer);
        resolve(res);
      };
      // A CLI stuck on a silent socket may ignore SIGTERM, or leave a child holding its pipes so
      // 'close' never comes (a wedged `docker version` once hung forever): SIGKILL after a grace
      // period, then stop waiting for the pipes.
      let killTimer: NodeJS.Timeout | undefined;
      let giveUpTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => {
          child.kill('SIGKILL');
          giveUpTimer = setTimeout(() => {
            child.stdout.destroy();
            child.stderr.destroy();
            finish({ code: 137, stdout, stderr, timedOut: true });
          }, KILL_GRACE_MS);
        }, KILL_GRACE_MS);
      }, opts.timeoutMs ?? 60_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err: NodeJS.ErrnoException) => {
        const missing = err.code === 'ENOENT';
        finish({ code: missing ? 127 : 126, stdout, stderr: missing ? `${file}: command not found` : err.message });
      });
      child.on('close', (code, signal) => finish({ code: code ?? (signal ? 128 : 1), stdout, stderr, ...(timedOut ? { timedOut } : {}) }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }
}

/** Runs argv and throws a HostaliasError naming what was being done when it exits non-zero. */
export async function runChecked(runner: Runner, argv: readonly string[], doing: string, opts?: RunOptions): Promise<RunResult> {
  const res = await runner.run(argv, opts);
  if (res.code !== 0) throw commandError(argv, doing, res);
  return res;
}

export function commandError(argv: readonly string[], doing: string, res: RunResult): HostaliasError {
  const detail = (res.stderr || res.stdout).trim() || `exit status ${res.code}`;
  if (NEEDS_ROOT_OUTPUT.test(detail)) {
    return new HostaliasError('permission', `${doing}: ${detail}`, 'run it again with sudo');
  }
  if (res.code === 127) {
    return new HostaliasError('unsupported', `${doing}: ${argv[0]} is not installed`, `install the package that provides ${argv[0]}`);
  }
  return new HostaliasError('failed', `${doing}: \`${shellQuote(argv)}\` failed: ${detail}`);
}
