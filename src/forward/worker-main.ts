/**
 * Entry point of a forward worker process (exec/cluster.ts's forkWorker, see forwarder.ts). Reads its options
 * from the environment, relays until the primary says stop, a signal arrives, or the primary
 * goes away, then drains gracefully and exits.
 */
import { isForkedWorker } from '../exec/cluster.js';
import type { ForwarderOptions, PrimaryMessage, WorkerMessage } from './forwarder.js';
import { tcpRelayOptions, WORKER_ENV } from './forwarder.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';
import { RELAY_DEFAULTS } from '../model/config.js';

function send(m: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send?.(m, undefined, {}, () => resolve());
  });
}

async function runWorker(): Promise<void> {
  const opts = JSON.parse(process.env[WORKER_ENV] ?? '{}') as ForwarderOptions;
  let relay: TcpRelay;
  try {
    relay = await startTcpRelay(tcpRelayOptions(opts));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    await send({ type: 'error', code: e.code ?? 'EUNKNOWN', message: e.message });
    process.exit(1);
  }
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await relay.close(opts.graceMs ?? RELAY_DEFAULTS.graceS * 1000);
    await send({ type: 'stopped', stats: relay.stats() });
    process.exit(0);
  };
  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'stats') void send({ type: 'stats', id: m.id, stats: relay.stats() });
    else if (m.type === 'stop') void stop();
  });
  // Ctrl-C reaches the whole process group and systemd signals the whole cgroup: drain, don't die.
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  await send({ type: 'listening' });
}

// No top-level await: the bundle is CommonJS (scripts/bundle.mjs). A failure still ends the worker with an error.
if (isForkedWorker()) void runWorker();
