/**
 * Runs a TCP or UDP relay in this process or, for TCP, in `workers` cluster processes that share
 * one listening socket. A single Node process saturates one core; with workers the kernel spreads
 * accepts over them (`schedule: 'kernel'`, cluster.SCHED_NONE) or the primary hands them out in
 * turn (`'round-robin'`, cluster.SCHED_RR: fairer, but every accept crosses the IPC channel).
 * UDP always runs in one process: sessions are per client address and must live in one place.
 *
 * SIDE EFFECTS: opens sockets and, with workers > 1, forks Node processes (this module's
 * worker-main.js) through exec/cluster.ts's forkWorker, not the Runner: a relay is a
 * long-running server, not a plan step. The workers exit when this process closes them or goes away.
 */
import { forkWorker, type Worker } from '../exec/cluster.js';
import { fileURLToPath } from 'node:url';
import { HostaliasError } from '../model/errors.js';
import { formatEndpoint, type ForwardProto } from './spec.js';
import type { Endpoint } from './targets.js';
import { emptyStats, startTcpRelay, type RelayStats, type TcpRelay, type TcpRelayOptions } from './tcp-relay.js';
import { startUdpRelay, type UdpRelay, type UdpRelayStats } from './udp-relay.js';
import type { TargetOrder } from './targets.js';
import { defaultFix, type FixCommand } from '../model/invocation.js';
import { RELAY_DEFAULTS, type ForwardSchedule } from '../model/config.js';

export type Schedule = ForwardSchedule;

export interface ForwarderOptions {
  proto: ForwardProto;
  listen: Endpoint;
  targets: Endpoint[];
  /** Which target a new connection tries first (targets.ts). Default 'round-robin'. */
  order?: TargetOrder;
  /** TCP only. Default 1 (in this process). */
  workers?: number;
  schedule?: Schedule;
  connectTimeoutMs?: number;
  /** UDP session idle timeout. */
  idleTimeoutMs?: number;
  /** TCP connections per process before new ones are refused at once. Default: from RLIMIT_NOFILE. */
  maxConnections?: number;
  /** UDP sessions before the idlest is evicted for a new client. Default 4096. */
  maxSessions?: number;
  /** How long close() lets live connections finish. Default 10 000. */
  graceMs?: number;
  /** Builds the fix lines of its errors (the CLI's reader); default: defaultFix. */
  hostalias?: FixCommand;
}

export type ForwardStats = RelayStats | UdpRelayStats;

export interface Forwarder {
  readonly address: Endpoint;
  readonly workers: number;
  stats(): Promise<ForwardStats>;
  /** Graceful stop (see TcpRelay.close); resolves with the final stats. Idempotent. */
  close(): Promise<ForwardStats>;
}

/** Messages between the primary and worker-main.js. */
export type WorkerMessage =
  | { type: 'listening' }
  | { type: 'error'; code: string; message: string }
  | { type: 'stats'; id: number; stats: RelayStats }
  | { type: 'stopped'; stats: RelayStats };
export type PrimaryMessage = { type: 'stats'; id: number } | { type: 'stop' };

export const WORKER_ENV = 'HOSTALIAS_FORWARD_WORKER';

/** The command that lists what holds PORT on the host this relay runs on: iproute2's ss on Linux, lsof(8) on macOS (no ss there). */
export function portOwnersCommand(port: number, proto: ForwardProto, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return proto === 'tcp' ? `sudo lsof -nP -iTCP:${port} -sTCP:LISTEN` : `sudo lsof -nP -iUDP:${port}`;
  return `ss -lntup 'sport = :${port}'`;
}

/** Turns a listen error into what the user can act on. */
export function listenError(
  err: unknown,
  listen: Endpoint,
  proto: ForwardProto,
  hostalias: FixCommand = defaultFix,
  platform: NodeJS.Platform = process.platform,
): HostaliasError {
  const e = err as NodeJS.ErrnoException;
  const where = `listening on ${formatEndpoint(listen)}/${proto}`;
  switch (e.code) {
    case 'EADDRNOTAVAIL':
      return new HostaliasError(
        'not-present',
        `${where}: ${listen.host} is not an address of this host`,
        `${hostalias('up')}   (adds the alias), or pass --listen ADDR`,
      );
    case 'EADDRINUSE':
      return new HostaliasError(
        'conflict',
        `${where}: the port is already in use`,
        `see what listens there: ${portOwnersCommand(listen.port, proto, platform)}`,
      );
    case 'EACCES':
      return new HostaliasError('permission', `${where}: ports below 1024 need root`, 'run it with sudo');
    default:
      return new HostaliasError('failed', `${where}: ${e.message ?? String(err)}`);
  }
}

function sumStats(all: RelayStats[]): RelayStats {
  const total = emptyStats();
  for (const s of all) for (const k of Object.keys(total) as Array<keyof RelayStats>) total[k] += s[k];
  return total;
}

/** The TCP relay a forwarder (or one of its workers) runs for `opts`. Pure. */
export function tcpRelayOptions(opts: ForwarderOptions): TcpRelayOptions {
  return {
    listen: opts.listen,
    targets: opts.targets,
    ...(opts.order ? { order: opts.order } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}),
  };
}

async function startLocal(opts: ForwarderOptions): Promise<Forwarder> {
  const graceMs = opts.graceMs ?? RELAY_DEFAULTS.graceS * 1000;
  let relay: TcpRelay | UdpRelay;
  try {
    relay =
      opts.proto === 'tcp'
        ? await startTcpRelay(tcpRelayOptions(opts))
        : await startUdpRelay({
            listen: opts.listen,
            targets: opts.targets,
            ...(opts.order ? { order: opts.order } : {}),
            ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
            ...(opts.maxSessions ? { maxSessions: opts.maxSessions } : {}),
          });
  } catch (err) {
    throw listenError(err, opts.listen, opts.proto, opts.hostalias);
  }
  return {
    address: relay.address,
    workers: 1,
    stats: async () => relay.stats(),
    close: async () => {
      await relay.close(graceMs);
      return relay.stats();
    },
  };
}

function startCluster(opts: ForwarderOptions, count: number): Promise<Forwarder> {
  // Fixed at the first fork; set both ways so a library user's earlier choice can't surprise us.
  const workerMain = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  const env = { [WORKER_ENV]: JSON.stringify(opts) };
  const workers = new Set<Worker>();
  const finals: RelayStats[] = [];
  let stopping = false;
  let nextQuery = 0;

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = forkWorker(workerMain, env, opts.schedule === 'round-robin');
      workers.add(w);
      let listening = false;
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'listening') {
          listening = true;
          resolve(w);
        } else if (m.type === 'error') {
          reject(listenError(Object.assign(new Error(m.message), { code: m.code }), opts.listen, opts.proto, opts.hostalias));
        } else if (m.type === 'stopped') {
          finals.push(m.stats);
        }
      });
      w.once('exit', (code, signal) => {
        workers.delete(w);
        if (!listening) reject(new HostaliasError('failed', `forward worker exited while starting (${signal ?? `exit ${code}`})`));
        // A worker that crashed while serving is replaced, so capacity doesn't silently shrink.
        else if (!stopping) void fork().catch(() => undefined);
      });
    });

  const stopAll = async (): Promise<RelayStats> => {
    stopping = true;
    const graceMs = opts.graceMs ?? RELAY_DEFAULTS.graceS * 1000;
    const exits = [...workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const kill = setTimeout(() => w.process.kill('SIGKILL'), graceMs + 5000);
          w.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          try {
            w.send({ type: 'stop' } satisfies PrimaryMessage);
          } catch {
            w.process.kill('SIGTERM');
          }
        }),
    );
    await Promise.all(exits);
    return sumStats(finals);
  };

  return (async () => {
    try {
      for (let i = 0; i < count; i++) await fork();
    } catch (err) {
      await stopAll();
      throw err;
    }
    let closing: Promise<RelayStats> | null = null;
    return {
      address: opts.listen,
      workers: count,
      stats: async () => {
        const id = nextQuery++;
        const replies = [...workers].map(
          (w) =>
            new Promise<RelayStats>((resolve) => {
              const timer = setTimeout(() => resolve(emptyStats()), 2000);
              const onMsg = (m: WorkerMessage) => {
                if (m.type !== 'stats' || m.id !== id) return;
                clearTimeout(timer);
                w.off('message', onMsg);
                resolve(m.stats);
              };
              w.on('message', onMsg);
              w.send({ type: 'stats', id } satisfies PrimaryMessage);
            }),
        );
        return sumStats(await Promise.all(replies));
      },
      close: () => (closing ??= stopAll()),
    };
  })();
}

/** Starts a forwarder; rejects with a HostaliasError naming the fix when it can't listen. */
export function startForwarder(opts: ForwarderOptions): Promise<Forwarder> {
  const workers = opts.proto === 'tcp' ? Math.max(1, Math.floor(opts.workers ?? 1)) : 1;
  if (workers > 1 && opts.listen.port === 0) throw new HostaliasError('usage', 'forward with several workers needs a fixed port', 'pass a port number');
  return workers > 1 ? startCluster(opts, workers) : startLocal(opts);
}
