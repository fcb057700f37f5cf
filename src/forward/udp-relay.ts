/**
 * The userspace UDP relay behind `hostalias forward PORT/udp`, usable as a library.
 *
 * SIDE EFFECTS: opens sockets itself, outside the runner/fs gateway (relaying is the job).
 *
 * UDP has no connections, so the relay keeps a session per client address:port: one upstream
 * socket each, so replies find their way back to the right client. A session that sees no
 * datagram in either direction for `idleTimeoutMs` is closed; at most `maxSessions` live at once
 * (datagrams that would open more are dropped and counted), which bounds fds and memory.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Endpoint } from './spec.js';

export interface UdpRelayOptions {
  listen: Endpoint;
  /** Each new session picks the next target (round-robin). */
  targets: readonly Endpoint[];
  /** Default 60 000. */
  idleTimeoutMs?: number;
  /** Default 4096. */
  maxSessions?: number;
}

export interface UdpRelayStats {
  sessions: number;
  sessionsOpened: number;
  sessionsExpired: number;
  dropped: number;
  datagramsToTarget: number;
  datagramsToClient: number;
}

export interface UdpRelay {
  readonly address: Endpoint;
  stats(): UdpRelayStats;
  /** Closes the listening socket and every session. Idempotent. */
  close(): Promise<void>;
}

interface Session {
  socket: dgram.Socket;
  target: Endpoint;
  lastActive: number;
}

function family(host: string): 'udp4' | 'udp6' {
  return isIP(host) === 6 ? 'udp6' : 'udp4';
}

function closeQuietly(s: dgram.Socket): void {
  try {
    s.close();
  } catch {
    // already closed
  }
}

export function startUdpRelay(opts: UdpRelayOptions): Promise<UdpRelay> {
  if (opts.targets.length === 0) throw new Error('startUdpRelay: no targets');
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const maxSessions = opts.maxSessions ?? 4096;
  const sessions = new Map<string, Session>();
  const stats: UdpRelayStats = { sessions: 0, sessionsOpened: 0, sessionsExpired: 0, dropped: 0, datagramsToTarget: 0, datagramsToClient: 0 };
  let nextTarget = 0;
  const listener = dgram.createSocket({ type: family(opts.listen.host) });

  const open = (key: string, client: dgram.RemoteInfo): Session | null => {
    if (sessions.size >= maxSessions) {
      stats.dropped++;
      return null;
    }
    const target = opts.targets[nextTarget] as Endpoint;
    nextTarget = (nextTarget + 1) % opts.targets.length;
    const socket = dgram.createSocket({ type: family(target.host) });
    const session: Session = { socket, target, lastActive: Date.now() };
    socket.on('message', (reply, from) => {
      // Only the target may answer through this session (the socket is unconnected).
      if (from.port !== target.port || from.address !== target.host) return;
      session.lastActive = Date.now();
      stats.datagramsToClient++;
      listener.send(reply, client.port, client.address);
    });
    socket.on('error', () => undefined);
    sessions.set(key, session);
    stats.sessionsOpened++;
    return session;
  };

  listener.on('message', (msg, client) => {
    const key = `${client.address}|${client.port}`;
    const session = sessions.get(key) ?? open(key, client);
    if (!session) return;
    session.lastActive = Date.now();
    stats.datagramsToTarget++;
    session.socket.send(msg, session.target.port, session.target.host);
  });
  listener.on('error', () => undefined);

  const sweep = setInterval(() => {
    const cutoff = Date.now() - idleTimeoutMs;
    for (const [key, s] of sessions) {
      if (s.lastActive >= cutoff) continue;
      sessions.delete(key);
      closeQuietly(s.socket);
      stats.sessionsExpired++;
    }
  }, Math.max(10, Math.min(1000, Math.floor(idleTimeoutMs / 4))));
  sweep.unref();

  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.bind({ address: opts.listen.host, port: opts.listen.port }, () => {
      listener.off('error', reject);
      const addr = listener.address();
      let closing: Promise<void> | null = null;
      resolve({
        address: { host: addr.address, port: addr.port },
        stats: () => ({ ...stats, sessions: sessions.size }),
        close() {
          closing ??= new Promise<void>((r) => {
            clearInterval(sweep);
            for (const s of sessions.values()) closeQuietly(s.socket);
            sessions.clear();
            listener.close(() => r());
          });
          return closing;
        },
      });
    });
  });
}
