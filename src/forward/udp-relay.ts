/**
 * The userspace UDP relay behind `hostalias forward PORT/udp`, usable as a library.
 *
 * SIDE EFFECTS: opens sockets itself, outside the runner/fs gateway (relaying is the job).
 *
 * UDP has no connections, so the relay keeps a session per client address:port: one upstream
 * socket each, so replies find their way back to the right client. A session that sees no
 * datagram in either direction for `idleTimeoutMs` is closed; at most `maxSessions` live at once
 * (datagrams that would open more are dropped and counted), which bounds fds and memory.
 *
 * Upstream sockets are connected, so the kernel filters replies to the target and an ICMP "port
 * unreachable" comes back as ECONNREFUSED: a session that was refused before any reply moves to
 * the next target and resends its last datagram (the UDP form of TCP failover, see targets.ts).
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Endpoint } from './targets.js';
import { targetPicker, type TargetOrder } from './targets.js';
import { RELAY_DEFAULTS } from '../model/config.js';

export interface UdpRelayOptions {
  listen: Endpoint;
  /** Each new session picks a target by `order`; a refusing one is skipped. */
  targets: readonly Endpoint[];
  /** Default 'round-robin'; 'sticky' for one service on several addresses. */
  order?: TargetOrder;
  /** Default 60 000. */
  idleTimeoutMs?: number;
  /** Default 4096; when full, the least recently active session makes room for a new client. */
  maxSessions?: number;
  /** The relay never keeps the process alive (a relay inside a test process). Default false. */
  unref?: boolean;
}

export interface UdpRelayStats {
  sessions: number;
  sessionsOpened: number;
  sessionsExpired: number;
  /** Sessions closed to make room for a new client (the table was full; the idlest went). */
  sessionsEvicted: number;
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
  /** Null between a refusal and the next target's socket. */
  socket: dgram.Socket | null;
  connected: boolean;
  /** Datagrams that arrived before the upstream socket connected. */
  pending: Buffer[];
  /** Index into targets. */
  target: number;
  /** Targets tried so far for this session (failover stops after all). */
  tries: number;
  replied: boolean;
  /** The latest datagram before the first reply: resent to the next target after a refusal. */
  last: Buffer | null;
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
  const idleTimeoutMs = opts.idleTimeoutMs ?? RELAY_DEFAULTS.idleTimeoutS * 1000;
  const maxSessions = opts.maxSessions ?? 4096;
  const sessions = new Map<string, Session>();
  const stats: UdpRelayStats = {
    sessions: 0,
    sessionsOpened: 0,
    sessionsExpired: 0,
    sessionsEvicted: 0,
    dropped: 0,
    datagramsToTarget: 0,
    datagramsToClient: 0,
  };
  const picker = targetPicker(opts.targets.length, opts.order);
  const listener = dgram.createSocket({ type: family(opts.listen.host) });

  const send = (session: Session, msg: Buffer): void => {
    if (session.connected && session.socket) session.socket.send(msg);
    else if (session.pending.length < 64) session.pending.push(msg);
  };

  const connectUpstream = (session: Session, client: dgram.RemoteInfo): void => {
    const index = session.target;
    const target = opts.targets[index] as Endpoint;
    const socket = dgram.createSocket({ type: family(target.host) });
    if (opts.unref) socket.unref();
    session.socket = socket;
    session.connected = false;
    socket.on('message', (reply) => {
      session.lastActive = Date.now();
      if (!session.replied) picker.answered(index);
      session.replied = true;
      stats.datagramsToClient++;
      listener.send(reply, client.port, client.address);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (session.socket !== socket || err.code !== 'ECONNREFUSED' || session.replied) return;
      if (session.tries >= opts.targets.length) return;
      closeQuietly(socket);
      session.target = (index + 1) % opts.targets.length;
      session.tries++;
      if (session.last) session.pending = [session.last];
      connectUpstream(session, client);
    });
    socket.once('connect', () => {
      if (session.socket !== socket) return;
      session.connected = true;
      for (const msg of session.pending.splice(0)) socket.send(msg);
    });
    socket.connect(target.port, target.host);
  };

  const open = (key: string, client: dgram.RemoteInfo): Session | null => {
    // A full table evicts the least recently active session (the Map's first entry: activity
    // re-inserts a session at the end), so a flood of source ports never locks out a new client.
    if (sessions.size >= maxSessions) {
      const idlest = sessions.entries().next().value;
      if (!idlest) return null;
      sessions.delete(idlest[0]);
      if (idlest[1].socket) closeQuietly(idlest[1].socket);
      stats.sessionsEvicted++;
    }
    const session: Session = {
      socket: null,
      connected: false,
      pending: [],
      target: picker.first(),
      tries: 1,
      replied: false,
      last: null,
      lastActive: Date.now(),
    };
    connectUpstream(session, client);
    sessions.set(key, session);
    stats.sessionsOpened++;
    return session;
  };

  listener.on('message', (msg, client) => {
    const key = `${client.address}|${client.port}`;
    const existing = sessions.get(key);
    if (existing) {
      sessions.delete(key); // re-inserted below: the Map stays ordered by activity
      sessions.set(key, existing);
    }
    const session = existing ?? open(key, client);
    if (!session) return;
    session.lastActive = Date.now();
    if (!session.replied) session.last = msg;
    stats.datagramsToTarget++;
    send(session, msg);
  });
  listener.on('error', () => undefined);

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleTimeoutMs;
      for (const [key, s] of sessions) {
        if (s.lastActive >= cutoff) continue;
        sessions.delete(key);
        if (s.socket) closeQuietly(s.socket);
        stats.sessionsExpired++;
      }
    },
    Math.max(10, Math.min(1000, Math.floor(idleTimeoutMs / 4))),
  );
  sweep.unref();

  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.bind({ address: opts.listen.host, port: opts.listen.port }, () => {
      listener.off('error', reject);
      if (opts.unref) listener.unref();
      const addr = listener.address();
      let closing: Promise<void> | null = null;
      resolve({
        address: { host: addr.address, port: addr.port },
        stats: () => ({ ...stats, sessions: sessions.size }),
        close() {
          closing ??= new Promise<void>((r) => {
            clearInterval(sweep);
            for (const s of sessions.values()) if (s.socket) closeQuietly(s.socket);
            sessions.clear();
            listener.close(() => r());
          });
          return closing;
        },
      });
    });
  });
}
