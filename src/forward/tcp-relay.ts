/**
 * The userspace TCP relay behind `hostalias forward`, usable as a library.
 *
 * SIDE EFFECTS: this module opens listening and outgoing sockets itself, outside the runner/fs
 * gateway: relaying bytes is the whole job, so there is no plan to show or step to undo. It never
 * spawns processes or touches files.
 *
 * Semantics, each proven by test/unit/forward-*.test.ts:
 * - backpressure: a side whose peer reads slowly stops the other side's reads (pause on a full
 *   write buffer, resume on drain), so memory stays bounded whatever the rates;
 * - half-close: both sockets are allowHalfOpen; a FIN is passed on as a FIN (`end()`), and the
 *   other direction keeps flowing until it ends too;
 * - resets: an error (RST, EPIPE) on one side resets the other (`resetAndDestroy`), so a client
 *   sees what it would have seen talking to the target directly, also after a half-close, when
 *   the reset side is no longer read (checked every QUIET_CHECK_MS);
 * - a target that refuses or doesn't answer within `connectTimeoutMs` resets the client at once;
 *   with several targets the next one is tried (round-robin or sticky start, failover on error).
 * Accepting and connecting happen here; once both sockets are connected, the bytes are copied by
 * the C data path (native-relay.ts) where it loads, else by `pump` below, with the same semantics.
 */
import net from 'node:net';
import { formatEndpoint } from './spec.js';
import type { Endpoint } from './targets.js';
import { targetPicker, type TargetOrder } from './targets.js';
import { defaultMaxConnections } from './fd-limit.js';
import { nativeRelay, type NativeRelay } from './native-relay.js';
import { RELAY_DEFAULTS } from '../model/config.js';

export interface TcpRelayOptions {
  listen: Endpoint;
  /** Connections go round-robin over these; a target that fails to connect is skipped (failover). */
  targets: readonly Endpoint[];
  /** Default 'round-robin'; 'sticky' for one service on several addresses (see targets.ts). */
  order?: TargetOrder;
  /** Give up on a target that doesn't answer the SYN after this long. Default 5000. */
  connectTimeoutMs?: number;
  /** Bytes buffered per direction before reads pause. Default 256 KiB (fewer pause/resume syscalls than Node's 16 KiB). */
  highWaterMark?: number;
  backlog?: number;
  /** The relay never keeps the process alive (a relay inside a test process). Default false. */
  unref?: boolean;
  /**
   * Connections held at once; past it a new one is closed at once (counted in `refused`) rather
   * than left unanswered when descriptors run out. Default: from RLIMIT_NOFILE (fd-limit.ts).
   */
  maxConnections?: number;
  /** 'js' keeps the bytes in JavaScript even where the native data path loads (tests, the bench). */
  dataPath?: 'native' | 'js';
  /**
   * Where each connection goes, decided when it arrives (the loopback relay asks the kernel which
   * port it was for): the targets in the order to try them, or null to reset the client at once
   * (counted in `connectFailures`). Replaces `targets` and `order` when given.
   */
  route?: (client: net.Socket) => readonly Endpoint[] | null;
}

export interface RelayStats {
  accepted: number;
  /** Connections open now (client side accepted, not yet closed). */
  active: number;
  /** Clients reset because no target could be reached. */
  connectFailures: number;
  /** Connections closed at once because `maxConnections` were open. */
  refused: number;
  /** Connections ended by a reset/error on either side (passed on to the other side). */
  resets: number;
  /** Bytes handed to the target's socket (delivered to its kernel), not merely read from the client. */
  bytesToTarget: number;
  bytesToClient: number;
}

export interface TcpRelay {
  readonly address: Endpoint;
  stats(): RelayStats;
  /**
   * Stops accepting, lets live connections finish for `graceMs`, then resets the rest.
   * Resolves when every socket is closed. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

export function emptyStats(): RelayStats {
  return { accepted: 0, active: 0, connectFailures: 0, refused: 0, resets: 0, bytesToTarget: 0, bytesToClient: 0 };
}

/** RST if the socket is connected, plain destroy otherwise; never throws. */
function resetSocket(s: net.Socket | null): void {
  if (!s || s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/**
 * How often sockets that are not being read (their peer half-closed, or paused for backpressure)
 * are checked for a reset. libuv stops watching a socket it doesn't read, so a client that sends
 * FIN and then RST toward an idle target would otherwise go unnoticed, leaving the target's
 * socket in CLOSE-WAIT and the relay holding both descriptors.
 */
const QUIET_CHECK_MS = 1000;
const EMPTY = Buffer.alloc(0);

/**
 * Copies src → dst with backpressure; a FIN from src becomes a FIN to dst. `count` hears the bytes
 * dst's kernel took (the write callbacks), not merely those read from src. `quiet` holds the
 * sockets that are not being read now (paused or ended), which the relay checks for resets.
 */
function pump(src: net.Socket, dst: net.Socket, count: (n: number) => void, quiet: Set<net.Socket>): void {
  src.on('data', (chunk: Buffer) => {
    const n = chunk.length;
    if (
      !dst.write(chunk, (err) => {
        if (!err) count(n);
      })
    ) {
      src.pause();
      quiet.add(src);
    }
  });
  dst.on('drain', () => {
    quiet.delete(src);
    src.resume();
  });
  src.on('end', () => {
    quiet.add(src);
    dst.end();
  });
  src.once('close', () => quiet.delete(src));
}

/**
 * Writes nothing to each quiet socket: on one that was reset the kernel answers EPIPE or
 * ECONNRESET, which reaches the socket's 'error' handler (and the pair is reset); on a healthy one
 * it sends no packet.
 */
function checkQuiet(quiet: ReadonlySet<net.Socket>): void {
  for (const s of quiet) if (!s.destroyed && s.writable) s.write(EMPTY);
}

/** Starts listening; resolves once bound. Rejects with the listen error (EADDRNOTAVAIL, EADDRINUSE, EACCES). */
export async function startTcpRelay(opts: TcpRelayOptions): Promise<TcpRelay> {
  if (opts.targets.length === 0 && !opts.route) throw new Error('startTcpRelay: no targets');
  const maxConnections = opts.maxConnections ?? (await defaultMaxConnections());
  const connectTimeoutMs = opts.connectTimeoutMs ?? RELAY_DEFAULTS.connectTimeoutMs;
  const highWaterMark = opts.highWaterMark ?? 256 * 1024;
  const targets = [...opts.targets];
  const stats = emptyStats();
  const live = new Set<net.Socket>();
  const quiet = new Set<net.Socket>();
  const quietTimer = setInterval(() => checkQuiet(quiet), QUIET_CHECK_MS);
  quietTimer.unref();
  const picker = targetPicker(targets.length, opts.order);
  const native =
    opts.dataPath === 'js'
      ? null
      : nativeRelay({
          ended(toTarget, toClient, reset) {
            stats.active--;
            stats.bytesToTarget += toTarget;
            stats.bytesToClient += toClient;
            if (reset) stats.resets++;
          },
        });

  const handle = (client: net.Socket): void => {
    // Counted here, not by server.maxConnections: pairs handed to the native thread are no longer
    // Node sockets, but they still hold descriptors.
    if (stats.active >= maxConnections) {
      stats.refused++;
      return void client.destroy();
    }
    stats.accepted++;
    stats.active++;
    live.add(client);
    if (opts.unref) client.unref();
    let upstream: net.Socket | null = null;
    let connected = false;
    let errored = false;
    let handedOff = false;
    client.on('error', () => {
      if (!errored) stats.resets++;
      errored = true;
      resetSocket(upstream);
    });
    client.once('close', () => {
      live.delete(client);
      if (handedOff) return;
      stats.active--;
      if (!connected) upstream?.destroy();
    });

    const routed = opts.route ? opts.route(client) : null;
    if (opts.route && (routed === null || routed.length === 0)) {
      stats.connectFailures++;
      resetSocket(client);
      return;
    }
    const list = routed ?? targets;
    const start = routed ? 0 : picker.first();
    const attempt = (i: number): void => {
      if (client.destroyed) return;
      const index = (start + i) % list.length;
      const target = list[index] as Endpoint;
      // highWaterMark is honoured by net.Socket (Duplex options) though @types/node omits it here.
      const connectOpts: net.NetConnectOpts & { highWaterMark: number } = {
        host: target.host,
        port: target.port,
        allowHalfOpen: true,
        noDelay: true,
        highWaterMark,
      };
      const up = net.connect(connectOpts);
      if (opts.unref) up.unref();
      upstream = up;
      live.add(up);
      up.once('close', () => live.delete(up));
      const timer = setTimeout(() => up.destroy(new Error(`connect to ${formatEndpoint(target)} timed out`)), connectTimeoutMs);
      up.once('connect', () => {
        clearTimeout(timer);
        connected = true;
        if (!routed) picker.answered(index);
        if (client.destroyed) return void up.destroy();
        up.setKeepAlive(true, 60_000);
        // Synchronously in 'connect', before Node's first read of the target: nothing is buffered here.
        if (native?.adopt(client, up)) {
          handedOff = true;
          return;
        }
        pump(client, up, (n) => (stats.bytesToTarget += n), quiet);
        pump(up, client, (n) => (stats.bytesToClient += n), quiet);
        client.resume();
      });
      up.on('error', () => {
        clearTimeout(timer);
        if (connected) {
          if (!errored) stats.resets++;
          errored = true;
          resetSocket(client);
        } else if (i + 1 < list.length) {
          attempt(i + 1);
        } else {
          stats.connectFailures++;
          resetSocket(client);
        }
      });
    };
    client.setKeepAlive(true, 60_000);
    attempt(0);
  };

  // pauseOnConnect: nothing is read from the client until the target answers, so an
  // unreachable target costs no buffering.
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true, highWaterMark }, handle);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      clearInterval(quietTimer);
      reject(err);
    });
    server.listen({ host: opts.listen.host, port: opts.listen.port, backlog: opts.backlog ?? 4096 }, () => {
      server.removeAllListeners('error');
      if (opts.unref) server.unref();
      // After start, accept errors (EMFILE) must not crash the relay; Node retries accepting.
      server.on('error', () => undefined);
      const addr = server.address() as net.AddressInfo;
      let closing: Promise<void> | null = null;
      resolve({
        address: { host: addr.address, port: addr.port },
        stats: () => ({ ...stats }),
        close(graceMs = RELAY_DEFAULTS.graceS * 1000) {
          closing ??= drain(server, live, graceMs, native).finally(() => clearInterval(quietTimer));
          return closing;
        },
      });
    });
  });
}

async function drain(server: net.Server, live: Set<net.Socket>, graceMs: number, native: NativeRelay | null): Promise<void> {
  const closed = new Promise<void>((r) => server.close(() => r()));
  const open = (): boolean => live.size > 0 || (native?.pairs() ?? 0) > 0;
  const deadline = Date.now() + graceMs;
  while (open() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const s of live) resetSocket(s);
  if (native) {
    native.resetAll();
    // The reset runs on the native thread; its 'ended' reports arrive within a few loop turns.
    for (let i = 0; i < 100 && native.pairs() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    native.release();
  }
  await closed;
}
