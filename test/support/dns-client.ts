/**
 * A small DNS client and a scriptable upstream for the resolver's tests and benchmark: queries
 * over UDP and TCP with dns-packet, and a fake upstream on 127.0.0.1 whose answers a test chooses.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';

export function query(name: string, type: string, opts: { id?: number; edns?: number; rd?: boolean } = {}): Buffer {
  return dnsPacket.encode({
    id: opts.id ?? 4242,
    type: 'query',
    flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as 'A', name }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as unknown as Answer] : [],
  });
}

/** Sends `packet` over UDP to host:port; the first answer, or null after `timeoutMs`. */
export function udpAsk(host: string, port: number, packet: Buffer, timeoutMs = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.on('error', () => undefined);
    s.send(packet, port, host);
  });
}

/** Sends `packets` on one TCP connection (length-prefixed); resolves with the answers received before `timeoutMs` or the close. */
export function tcpAsk(host: string, port: number, packets: Buffer[], opts: { timeoutMs?: number; raw?: Buffer } = {}): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const sock = net.connect({ host, port });
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, opts.timeoutMs ?? 3000);
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => {
      if (opts.raw) sock.write(opts.raw);
      for (const p of packets) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(p.length, 0);
        sock.write(Buffer.concat([len, p]));
      }
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= packets.length) done();
    });
  });
}

export function decoded(packet: Buffer | null): DecodedPacket {
  if (packet === null) throw new Error('no answer');
  return dnsPacket.decode(packet);
}

/** The rcode of an answer, by name (NOERROR, SERVFAIL, …). */
export function rcodeOf(packet: Buffer | null): string {
  return (decoded(packet) as { rcode?: string }).rcode ?? '';
}

/** What the fake upstream answers a query with: records, an rcode, or silence. */
export type UpstreamScript = (q: DecodedPacket) => { answers?: Answer[]; rcode?: number; silent?: boolean };

export interface FakeUpstream {
  port: number;
  /** Queries received (UDP and TCP). */
  seen: DecodedPacket[];
  close(): Promise<void>;
}

function respond(q: DecodedPacket, script: UpstreamScript): Buffer | null {
  const r = script(q);
  if (r.silent) return null;
  return dnsPacket.encode({
    id: q.id ?? 0,
    type: 'response',
    flags: dnsPacket.RECURSION_AVAILABLE | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | (r.rcode ?? 0),
    questions: q.questions ?? [],
    answers: r.answers ?? [],
  });
}

/** A fake upstream on 127.0.0.1 (UDP and TCP on one port) that answers by `script`. */
export async function startFakeUpstream(script: UpstreamScript, host = '127.0.0.1'): Promise<FakeUpstream> {
  const seen: DecodedPacket[] = [];
  // The port UDP gets may be taken for TCP: try again on another (never left half-open).
  for (let tries = 0; ; tries++) {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (m, r) => {
      const q = dnsPacket.decode(m);
      seen.push(q);
      const a = respond(q, script);
      if (a) udp.send(a, r.port, r.address);
    });
    await new Promise<void>((r) => udp.bind(0, host, () => r()));
    const port = udp.address().port;
    const tcp = net.createServer((c) => {
      let buf: Buffer = Buffer.alloc(0);
      c.on('error', () => undefined);
      c.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const q = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
          seen.push(q);
          const a = respond(q, script);
          if (a) {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(a.length, 0);
            c.write(Buffer.concat([len, a]));
          }
        }
      });
    });
    const listening = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, host, () => r(true));
    });
    if (!listening) {
      udp.close();
      if (tries < 20) continue;
      throw new Error('no port free for both UDP and TCP');
    }
    return {
      port,
      seen,
      close: async () => {
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}
