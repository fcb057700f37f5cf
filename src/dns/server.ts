import dgram from 'node:dgram';
import net from 'node:net';
import { decide, fitUdp, refused, servfail, withId, type Decision, type LocalNames } from './answer.js';
import type { SourcePolicy } from './sources.js';
import { FORWARD_DEFAULTS, Forwarder, type ForwardLimits, type Upstream } from './upstream.js';

/** The resolver's caps, each a bound on what one client or a flood can cost. */
export interface ResolverLimits extends ForwardLimits {
  /** Forwarded queries per second one source may send (a token bucket); past it: REFUSED, so its resolver tries its next server. */
  perSourceRate: number;
  perSourceBurst: number;
  maxTcpConnections: number;
  maxTcpPerSource: number;
  /** A TCP connection with no complete query for this long is closed (RFC 7766 6.2.3). */
  tcpIdleMs: number;
  /** Queries of one TCP connection answered at once; more wait until one is done. */
  tcpPipeline: number;
}

export const RESOLVER_DEFAULTS: ResolverLimits = {
  ...FORWARD_DEFAULTS,
  perSourceRate: 1000,
  perSourceBurst: 2000,
  maxTcpConnections: 256,
  maxTcpPerSource: 32,
  tcpIdleMs: 10_000,
  tcpPipeline: 16,
};

/** What the resolver answers from and whom it asks. */
export interface ResolverConfig {
  local: LocalNames;
  upstreams: Upstream[];
  sources: SourcePolicy;
}

export interface ResolverOptions extends ResolverConfig {
  listen: { host: string; port: number };
  limits?: Partial<ResolverLimits>;
}

export interface ResolverStats {
  queries: number;
  local: number;
  forwarded: number;
  servfail: number;
  refused: number;
  malformed: number;
  dropped: number;
  deniedSources: number;
  truncated: number;
}

export interface Resolver {
  /** Where it listens (the port it got, when 0 was asked). */
  address: { host: string; port: number };
  /** Takes a new configuration (names, /etc/hosts, resolv.conf, trusted networks) without dropping a query. */
  reload(config: Partial<ResolverConfig>): void;
  stats(): ResolverStats;
  close(): Promise<void>;
}

/** A bind that failed: `code` is the errno name (EADDRINUSE: someone else has the port). */
export class BindError extends Error {
  constructor(
    readonly code: string,
    readonly proto: 'udp' | 'tcp',
    readonly host: string,
    readonly port: number,
    message: string,
  ) {
    super(message);
  }
}

/** Local answers by query bytes (all but the id): the same question gets the same bytes until the next reload. */
const CACHE_LIMIT = 4096;

class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}
  take(source: string, now: number): boolean {
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= 65_536) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(source, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (now - b.at > 10_000) this.buckets.delete(k);
    if (this.buckets.size >= 65_536) this.buckets.clear();
  }
}

/**
 * Starts the resolver on `listen` (UDP and TCP). Every query is judged by its source first
 * (SourcePolicy), then answered by `decide` or forwarded to the host's resolvers. Never throws
 * for a packet: every answer path is guarded, so a malformed query can't stop it. Rejects with a
 * BindError when the address can't be bound, with nothing left listening.
 */
export async function startResolver(opts: ResolverOptions): Promise<Resolver> {
  const limits: ResolverLimits = { ...RESOLVER_DEFAULTS, ...opts.limits };
  let config: ResolverConfig = { local: opts.local, upstreams: opts.upstreams, sources: opts.sources };
  const forwarder = new Forwarder(config.upstreams, limits);
  const buckets = new TokenBuckets(limits.perSourceRate, limits.perSourceBurst);
  const cache = new Map<string, Buffer>();
  const stats: ResolverStats = { queries: 0, local: 0, forwarded: 0, servfail: 0, refused: 0, malformed: 0, dropped: 0, deniedSources: 0, truncated: 0 };
  const family = net.isIPv6(opts.listen.host) ? 'udp6' : 'udp4';

  /** The answer to one query from `source`; null: send nothing. */
  const answer = async (query: Buffer, source: string, transport: 'udp' | 'tcp'): Promise<Buffer | null> => {
    stats.queries++;
    if (!config.sources.allows(source)) {
      stats.deniedSources++;
      return null;
    }
    const key = query.length >= 12 ? query.toString('latin1', 2) : '';
    const hit = cache.get(key);
    if (hit) {
      stats.local++;
      return withId(hit, query.readUInt16BE(0));
    }
    let d: Decision;
    try {
      d = decide(query, config.local);
    } catch {
      d = { kind: 'reply', packet: servfail(query), rcode: 2, why: 'internal error', cacheable: false };
    }
    if (d.kind === 'drop') {
      stats.dropped++;
      return null;
    }
    if (d.kind === 'reply') {
      if (d.rcode === 1) stats.malformed++;
      else if (d.rcode === 5) stats.refused++;
      stats.local++;
      if (d.cacheable) {
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(key, d.packet);
      }
      return d.packet;
    }
    if (!buckets.take(source, Date.now())) {
      stats.refused++;
      return refused(query);
    }
    if (forwarder.full || !forwarder.hasServers()) {
      stats.servfail++;
      return servfail(query);
    }
    stats.forwarded++;
    let reply = transport === 'udp' ? await forwarder.forwardUdp(query, d.question) : await forwarder.forwardTcp(query, d.question);
    if (reply === null) {
      stats.servfail++;
      return servfail(query);
    }
    if (transport === 'udp') {
      const fitted = fitUdp(reply, d.maxSize);
      if (fitted !== reply) stats.truncated++;
      reply = fitted;
    }
    return reply;
  };

  const makeUdp = () => {
    const s = dgram.createSocket({ type: family, reuseAddr: false });
    s.on('message', (msg, rinfo) => {
      // The common case, a question answered before (a recorded name): answered here, with no promise.
      if (msg.length >= 12) {
        const hit = cache.get(msg.toString('latin1', 2));
        if (hit && config.sources.allows(rinfo.address)) {
          stats.queries++;
          stats.local++;
          s.send(withId(hit, msg.readUInt16BE(0)), rinfo.port, rinfo.address, () => undefined);
          return;
        }
      }
      answer(msg, rinfo.address, 'udp').then(
        (reply) => {
          if (reply) s.send(reply, rinfo.port, rinfo.address, () => undefined);
        },
        () => undefined,
      );
    });
    s.on('error', () => undefined);
    return s;
  };
  let udp = makeUdp();

  const perSource = new Map<string, number>();
  const tcp = net.createServer({ pauseOnConnect: false }, (conn) => {
    const source = conn.remoteAddress ?? '';
    const count = perSource.get(source) ?? 0;
    if (!config.sources.allows(source) || tcpCount >= limits.maxTcpConnections || count >= limits.maxTcpPerSource) {
      if (!config.sources.allows(source)) stats.deniedSources++;
      conn.destroy();
      return;
    }
    tcpCount++;
    perSource.set(source, count + 1);
    conn.once('close', () => {
      tcpCount--;
      const n = (perSource.get(source) ?? 1) - 1;
      if (n <= 0) perSource.delete(source);
      else perSource.set(source, n);
    });
    conn.on('error', () => undefined);
    conn.setTimeout(limits.tcpIdleMs, () => conn.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let busy = 0;
    const pump = () => {
      while (busy < limits.tcpPipeline && buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const query = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        busy++;
        answer(Buffer.from(query), source, 'tcp')
          .then(
            (reply) => {
              if (reply && !conn.destroyed) {
                const head = Buffer.alloc(2);
                head.writeUInt16BE(reply.length, 0);
                conn.write(Buffer.concat([head, reply]));
              }
            },
            () => undefined,
          )
          .finally(() => {
            busy--;
            pump();
          });
      }
      if (busy >= limits.tcpPipeline) conn.pause();
      else conn.resume();
    };
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      pump();
    });
  });
  let tcpCount = 0;
  tcp.on('error', () => undefined);

  const bindUdp = () =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, 'udp', opts.listen));
      udp.once('error', onError);
      udp.bind({ address: opts.listen.host, port: opts.listen.port, exclusive: true }, () => {
        udp.off('error', onError);
        resolve();
      });
    });
  const bindTcp = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, 'tcp', { host: opts.listen.host, port }));
      tcp.once('error', onError);
      tcp.listen({ host: opts.listen.host, port, exclusive: true }, () => {
        tcp.off('error', onError);
        resolve();
      });
    });
  try {
    await bindUdp();
    // Port 0 (tests, benchmarks): the port UDP got may be taken for TCP; try UDP again on a new one.
    for (let tries = 0; ; tries++) {
      try {
        await bindTcp(udp.address().port);
        break;
      } catch (err) {
        if (opts.listen.port !== 0 || tries >= 20 || !(err instanceof BindError && err.code === 'EADDRINUSE')) throw err;
        await new Promise<void>((r) => udp.close(() => r()));
        udp = makeUdp();
        await bindUdp();
      }
    }
  } catch (err) {
    udp.close();
    tcp.close();
    forwarder.close();
    throw err;
  }
  const address = { host: opts.listen.host, port: udp.address().port };
  return {
    address,
    reload(next) {
      config = { ...config, ...next };
      if (next.upstreams) forwarder.setServers(next.upstreams);
      cache.clear();
    },
    stats: () => ({ ...stats }),
    close: async () => {
      forwarder.close();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

function bindError(err: NodeJS.ErrnoException, proto: 'udp' | 'tcp', at: { host: string; port: number }): BindError {
  const code = err.code ?? 'EUNKNOWN';
  const why =
    code === 'EADDRINUSE'
      ? 'another program already uses it'
      : code === 'EADDRNOTAVAIL'
        ? 'the address is not on this host (is the alias up?)'
        : code === 'EACCES'
          ? 'binding a port below 1024 needs root or CAP_NET_BIND_SERVICE'
          : err.message;
  return new BindError(code, proto, at.host, at.port, `listening on ${at.host}:${at.port}/${proto}: ${why}`);
}
