import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { tcpExchange } from './tcp-exchange.js';

/** What one question to a DNS server got: an answer (its rcode and A/AAAA data), or why none. */
export type AskResult =
  | { kind: 'answer'; rcode: string; addresses: string[] }
  /** No answer in time. */
  | { kind: 'timeout' }
  /** UDP: ICMP port unreachable (nothing listens); TCP: the connection was refused. */
  | { kind: 'refused' }
  | { kind: 'error'; message: string };

export interface AskOptions {
  transport: 'udp' | 'tcp';
  timeoutMs: number;
}

function encodeQuestion(name: string, type: 'A' | 'AAAA', id: number): Buffer {
  return dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

function readAnswer(packet: Buffer): AskResult {
  let d: DecodedPacket;
  try {
    d = dnsPacket.decode(packet);
  } catch (err) {
    return { kind: 'error', message: `a malformed answer (${(err as Error).message})` };
  }
  const addresses = (d.answers ?? []).flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [String(a.data)] : []));
  return { kind: 'answer', rcode: (d as { rcode?: string }).rcode ?? 'NOERROR', addresses };
}

/**
 * Asks `server`:`port` one question (`name`, A or AAAA) over UDP or TCP, as a client in a container
 * would. Read-only: one query, no retry. Never throws: a server that is silent, refuses or answers
 * garbage is a result. UDP uses a connected socket, so an ICMP port-unreachable is seen at once.
 */
export function askDns(server: string, port: number, name: string, type: 'A' | 'AAAA', opts: AskOptions): Promise<AskResult> {
  const id = Math.floor(Math.random() * 0xffff);
  const query = encodeQuestion(name, type, id);
  return opts.transport === 'udp' ? askUdp(server, port, query, id, opts.timeoutMs) : askTcp(server, port, query, id, opts.timeoutMs);
}

function askUdp(server: string, port: number, query: Buffer, id: number, timeoutMs: number): Promise<AskResult> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(server) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: AskResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    s.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: err.message }));
    s.on('message', (m) => {
      if (m.length >= 2 && m.readUInt16BE(0) === id) finish(readAnswer(m));
    });
    s.connect(port, server, () => s.send(query));
  });
}

async function askTcp(server: string, port: number, query: Buffer, id: number, timeoutMs: number): Promise<AskResult> {
  const r = await tcpExchange(server, port, query, timeoutMs);
  if (r.kind !== 'answer') return r;
  return r.packet.length >= 2 && r.packet.readUInt16BE(0) === id ? readAnswer(r.packet) : { kind: 'error', message: 'an answer to another query' };
}
