import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { answersQuestion, RCODE, rcodeOf, type Question } from './answer.js';
import { tcpExchange } from './tcp-exchange.js';
import type { UpstreamServer } from './host-files.js';

/** How long forwarding may take. */
export interface ForwardLimits {
  /** One try at one server; then the next server (or the same again) is asked. */
  attemptMs: number;
  /** The whole query: after it the client gets SERVFAIL, never silence (a stuck upstream costs it at most this). */
  deadlineMs: number;
  /** Queries waiting for an upstream at once; past it a new one gets SERVFAIL at once. */
  maxInFlight: number;
}

export const FORWARD_DEFAULTS: ForwardLimits = { attemptMs: 600, deadlineMs: 1800, maxInFlight: 512 };

/** An upstream server with its port (53 for resolv.conf's; tests and benchmarks may use another). */
export interface Upstream extends UpstreamServer {
  port: number;
}

/** An upstream answered SERVFAIL, NOTIMP or REFUSED: ask the next one, as glibc's resolver does. */
const TRY_NEXT = new Set<number>([RCODE.SERVFAIL, RCODE.NOTIMP, RCODE.REFUSED]);

interface Pending {
  question: Question;
  clientId: number;
  tried: Set<string>;
  /** A SERVFAIL/REFUSED kept in case no server does better. */
  fallback: Buffer | null;
  done(answer: Buffer | null): void;
}

const key = (address: string, port: number) => `${address.replace(/%.*$/, '').toLowerCase()}|${port}`;

/** 16-bit query ids from the kernel's random source, drawn in batches. */
class Ids {
  private pool = Buffer.alloc(0);
  private at = 0;
  next(): number {
    if (this.at + 2 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.at = 0;
    }
    const id = this.pool.readUInt16BE(this.at);
    this.at += 2;
    return id;
  }
}

/**
 * Asks the host's resolvers. UDP: one socket per address family (a random port), a random id per
 * query, and an answer is taken only from a server this query was sent to, with the query's own
 * question. Servers are tried in order, each for `attemptMs`, round again until `deadlineMs`; an
 * upstream's SERVFAIL/NOTIMP/REFUSED moves on to the next server at once. TCP: a connection per
 * query, servers in order. The answer keeps the client's id. null: no server answered in time.
 */
export class Forwarder {
  private servers: Upstream[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly ids = new Ids();
  private closed = false;

  constructor(
    servers: readonly Upstream[],
    private readonly limits: ForwardLimits = FORWARD_DEFAULTS,
  ) {
    this.setServers(servers);
  }

  setServers(servers: readonly Upstream[]): void {
    this.servers = [...servers];
  }

  get inFlight(): number {
    return this.pending.size + this.tcpInFlight;
  }

  private tcpInFlight = 0;

  get full(): boolean {
    return this.inFlight >= this.limits.maxInFlight;
  }

  hasServers(): boolean {
    return this.servers.length > 0;
  }

  private socket(family: 4 | 6): dgram.Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    s.on('message', (msg, rinfo) => this.onAnswer(msg, rinfo));
    // An unreachable upstream (ICMP) or a send refused: the attempt timer moves on.
    s.on('error', () => undefined);
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private onAnswer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    if (p === undefined) return;
    if (!p.tried.has(key(rinfo.address, rinfo.port)) || !answersQuestion(msg, p.question)) return;
    const rcode = rcodeOf(msg);
    if (TRY_NEXT.has(rcode) && this.servers.some((s) => !p.tried.has(key(s.address, s.port)))) {
      p.fallback = msg;
      return;
    }
    p.done(msg);
  }

  /** Forwards a query (its bytes, already checked) over UDP; resolves with the answer carrying the client's id, or null. */
  forwardUdp(query: Buffer, question: Question): Promise<Buffer | null> {
    if (this.closed || this.servers.length === 0) return Promise.resolve(null);
    let id = this.ids.next();
    while (this.pending.has(id)) id = this.ids.next();
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      let attempt = 0;
      const started = Date.now();
      const p: Pending = {
        question,
        clientId: query.readUInt16BE(0),
        tried: new Set(),
        fallback: null,
        done: (answer) => {
          if (this.pending.get(id) !== p) return;
          this.pending.delete(id);
          for (const t of timers) clearTimeout(t);
          const chosen = answer ?? p.fallback;
          if (!chosen) return resolve(null);
          const reply = Buffer.from(chosen);
          reply.writeUInt16BE(p.clientId, 0);
          resolve(reply);
        },
      };
      this.pending.set(id, p);
      const next = () => {
        if (this.pending.get(id) !== p) return;
        // A fallback (SERVFAIL) and every server asked once: it is the answer.
        if (p.fallback && this.servers.every((s) => p.tried.has(key(s.address, s.port)))) return p.done(null);
        const server = this.servers[attempt++ % this.servers.length];
        if (!server) return p.done(null);
        p.tried.add(key(server.address, server.port));
        this.socket(server.family).send(out, server.port, server.address, (err) => {
          if (err) setImmediate(next);
        });
        const left = started + this.limits.deadlineMs - Date.now();
        if (left <= 0) return p.done(null);
        timers.push(setTimeout(next, Math.min(this.limits.attemptMs, left)));
      };
      timers.push(setTimeout(() => p.done(null), this.limits.deadlineMs));
      next();
    });
  }

  /** Forwards a query over TCP (a client that came over TCP, or a truncated UDP answer); the servers in order within the deadline. */
  async forwardTcp(query: Buffer, question: Question): Promise<Buffer | null> {
    if (this.closed || this.servers.length === 0) return null;
    const deadline = Date.now() + this.limits.deadlineMs;
    this.tcpInFlight++;
    try {
      let fallback: Buffer | null = null;
      for (const server of this.servers) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const r = await tcpExchange(server.address, server.port, query, Math.min(left, this.limits.attemptMs * 2));
        const answer = r.kind === 'answer' ? r.packet : null;
        if (!answer || !answersQuestion(answer, question)) continue;
        if (TRY_NEXT.has(rcodeOf(answer))) {
          fallback ??= answer;
          continue;
        }
        return answer;
      }
      return fallback;
    } finally {
      this.tcpInFlight--;
    }
  }

  close(): void {
    this.closed = true;
    for (const p of [...this.pending.values()]) p.done(null);
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
