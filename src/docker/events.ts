import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * The documented exception to "only src/exec/runner.ts spawns processes": `docker events` is
 * long-running and streams, which the Runner (collect output, then return) can't express.
 * argv array, no shell, LC_ALL=C as the Runner does.
 */
export interface EventStream {
  /** Resolves with docker's exit status when the stream ends (Docker stopped, or `stop()`). */
  done: Promise<{ code: number; stderr: string }>;
  stop(): void;
}

/** Streams Docker network create/destroy events, one `onEvent(line)` per event. */
export function followNetworkEvents(onEvent: (line: string) => void): EventStream {
  const argv = ['events', '--format', '{{.Action}} {{.Actor.ID}}', '--filter', 'type=network', '--filter', 'event=create', '--filter', 'event=destroy'];
  const child = spawn('docker', argv, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (raw) => {
    const line = raw.trim();
    if (line) onEvent(line);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    child.on('error', (err) => resolve({ code: 127, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 0, stderr }));
  });
  return { done, stop: () => void child.kill('SIGTERM') };
}
