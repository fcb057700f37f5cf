import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { HostaliasError } from '../model/errors.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `docker ARGS…` (or `podman ARGS…`) in the foreground and resolves with its exit status (128+N when a signal
 * ended it). This is the one documented exception to the runner gateway (src/exec/runner.ts):
 * `docker run` is long-running and interactive, so it inherits stdin/stdout/stderr (a TTY for
 * `-it`) and the whole environment (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, …) instead of
 * having its output captured. SIGINT/SIGTERM/SIGHUP sent to hostalias are passed on to docker,
 * which proxies them to the container (--sig-proxy, on by default).
 */
export function execDocker(args: readonly string[], cli: 'docker' | 'podman' = 'docker'): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cli, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => void child.kill(sig);
    const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    const done = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT') reject(new HostaliasError('unsupported', `${cli} is not installed (no ${cli} on PATH)`, `install it (Debian: sudo apt-get install ${cli === 'docker' ? 'docker.io' : 'podman'}) or add it to PATH`));
      else reject(new HostaliasError('failed', `starting ${cli}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
