import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { HostaliasError } from '../model/errors.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface InheritedOptions {
  /** A missing program is a HostaliasError naming this fix; without it, exit status 127. */
  installFix?: string;
  /** Pass SIGINT/SIGTERM/SIGHUP sent to hostalias on to the child (default true). */
  forwardSignals?: boolean;
}

/**
 * Runs argv in the foreground with this process's stdin/stdout/stderr (a TTY stays a TTY) and
 * environment, and resolves with its exit status (128+N when signal N ended it). The documented
 * exception to the Runner (runner.ts), which captures output: `docker run` is long-running and
 * interactive, and sudo may prompt. argv array, no shell.
 */
export function runInherited(argv: readonly string[], opts: InheritedOptions = {}): Promise<number> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('runInherited: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => void child.kill(sig);
    const handlers = opts.forwardSignals === false ? [] : FORWARDED.map((sig) => [sig, forward(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    const done = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (opts.installFix === undefined) resolve(127);
      else if (err.code === 'ENOENT') reject(new HostaliasError('unsupported', `${file} is not installed (no ${file} on PATH)`, opts.installFix));
      else reject(new HostaliasError('failed', `starting ${file}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
