import dnsPacket, { type Answer, type DecodedPacket, type Question as WireQuestion } from 'dns-packet';
import { canonicalName, type HostsTable } from './host-files.js';

/**
 * What the resolver answers itself, decided from one query's bytes. Pure: no sockets, no clock.
 * The wire format is dns-packet's (decode and encode); only the 12-byte header of a query too
 * broken to decode is read and written here, to send back a FORMERR with its id.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
const CD = 0x0010;
const HEADER_BYTES = 12;

/** A UDP answer without EDNS fits 512 bytes (RFC 1035 4.2.1); EDNS raises it to what the client says. */
export const PLAIN_UDP_SIZE = 512;
/** Larger than this is never sent over UDP whatever the client claims (RFC 9715's advice: 1232 avoids fragments; 4096 is BIND's cap). */
export const MAX_UDP_SIZE = 4096;
/** What the resolver's own OPT record advertises. */
export const OWN_UDP_SIZE = 1232;

/** Record types the resolver never answers: ANY (RFC 8482), zone transfers, the obsolete MAILA/MAILB. */
const REFUSED_TYPES = new Set(['ANY', 'AXFR', 'IXFR', 'UNKNOWN_253', 'UNKNOWN_254']);

/** What the resolver knows by itself. */
export interface LocalNames {
  /** The alias: what the recorded names answer. */
  alias: string;
  /** The recorded names (local_host, host.docker.internal, …), canonical (canonicalName). */
  names: ReadonlySet<string>;
  /** The host's /etc/hosts. */
  hosts: HostsTable;
  /** TTL of local answers, in seconds. */
  ttl: number;
}

export interface Question {
  name: string;
  type: string;
  class: string;
}

export type Decision =
  /** Not a query worth an answer (too short to carry an id, or a response): nothing is sent. */
  | { kind: 'drop'; why: string }
  /** Answered here. `cacheable`: the same query bytes (but the id) always get these bytes. */
  | { kind: 'reply'; packet: Buffer; rcode: number; why: string; cacheable: boolean }
  /** A name for the host's resolvers: `maxSize` is what fits the client over UDP. */
  | { kind: 'forward'; question: Question; maxSize: number };

/** A reply of only the header (no question): for queries whose question can't be read back. */
export function headerReply(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  query.copy(out, 0, 0, 2);
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  out.writeUInt16BE(QR | (flags & (OPCODE_MASK | RD)) | rcode, 2);
  return out;
}

/** The largest UDP answer this query's sender takes: 512, or its EDNS size within [512, MAX_UDP_SIZE]. */
function clientSize(packet: DecodedPacket): { size: number; edns: boolean } {
  const opt = packet.additionals?.find((r) => r.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  if (!opt) return { size: PLAIN_UDP_SIZE, edns: false };
  return { size: Math.min(MAX_UDP_SIZE, Math.max(PLAIN_UDP_SIZE, opt.udpPayloadSize ?? PLAIN_UDP_SIZE)), edns: true };
}

/** A reply to `packet` with its question echoed, `answers`, and an OPT record when it had one. */
function reply(packet: DecodedPacket, q: Question, rcode: number, answers: Answer[], authoritative: boolean): Buffer {
  const flags = ((packet.flags ?? 0) & (RD | CD)) | RA | (authoritative ? AA : 0) | rcode;
  const edns = clientSize(packet).edns;
  return dnsPacket.encode({
    id: packet.id ?? 0,
    type: 'response',
    flags,
    questions: [q as WireQuestion],
    answers,
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: OWN_UDP_SIZE, flags: 0, options: [] } as unknown as Answer] : [],
  });
}

/**
 * Decides what to do with one query. Never throws: a packet that doesn't decode gets FORMERR
 * (or is dropped when it has no full header), so a malformed packet can't stop the resolver.
 * - our recorded names: A = the alias; AAAA and every other type: NOERROR with no data (a client
 *   that asked AAAA first must go on to A, so never NXDOMAIN);
 * - names in the host's /etc/hosts: their addresses of the asked family (NOERROR with no data
 *   when the file has none of that family), as glibc's `files` backend answers before DNS;
 * - ANY, AXFR, IXFR and classes other than IN: REFUSED;
 * - everything else: forward to the host's resolvers.
 */
export function decide(query: Buffer, local: LocalNames): Decision {
  if (query.length < HEADER_BYTES) return { kind: 'drop', why: 'shorter than a DNS header' };
  const flags = query.readUInt16BE(2);
  if (flags & QR) return { kind: 'drop', why: 'a response, not a query' };
  if ((flags & OPCODE_MASK) !== 0)
    return { kind: 'reply', packet: headerReply(query, RCODE.NOTIMP), rcode: RCODE.NOTIMP, why: 'not a standard query', cacheable: true };
  // A query has one question, no answers or authorities, and at most an OPT (and a TSIG) record.
  // Checked before decoding: dns-packet allocates an array per count, and a forged count of
  // 65535 costs milliseconds, which a flood would turn into a stopped resolver.
  if (query.readUInt16BE(4) !== 1 || query.readUInt16BE(6) !== 0 || query.readUInt16BE(8) !== 0 || query.readUInt16BE(10) > 2) {
    return { kind: 'reply', packet: headerReply(query, RCODE.FORMERR), rcode: RCODE.FORMERR, why: 'not a query with exactly one question', cacheable: false };
  }
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch (err) {
    return { kind: 'reply', packet: headerReply(query, RCODE.FORMERR), rcode: RCODE.FORMERR, why: `malformed: ${(err as Error).message}`, cacheable: false };
  }
  const q = packet.questions?.length === 1 ? (packet.questions[0] as Question | undefined) : undefined;
  if (!q || (packet.answers?.length ?? 0) > 0 || (packet.authorities?.length ?? 0) > 0) {
    return { kind: 'reply', packet: headerReply(query, RCODE.FORMERR), rcode: RCODE.FORMERR, why: 'not exactly one question', cacheable: false };
  }
  const question: Question = { name: q.name, type: q.type, class: q.class ?? 'IN' };
  const answer = (rcode: number, answers: Answer[], why: string, authoritative: boolean): Decision => ({
    kind: 'reply',
    packet: reply(packet, question, rcode, answers, authoritative),
    rcode,
    why,
    cacheable: true,
  });
  if (question.class !== 'IN') return answer(RCODE.REFUSED, [], `class ${question.class} is not served`, false);
  if (REFUSED_TYPES.has(question.type)) return answer(RCODE.REFUSED, [], `${question.type} queries are refused`, false);
  const name = canonicalName(question.name);
  if (local.names.has(name)) {
    const a = question.type === 'A' ? [{ type: 'A', name: question.name, ttl: local.ttl, class: 'IN', data: local.alias } as Answer] : [];
    return answer(RCODE.NOERROR, a, a.length ? 'a recorded name' : `a recorded name has no ${question.type}`, true);
  }
  const v4 = local.hosts.v4.get(name);
  const v6 = local.hosts.v6.get(name);
  if (v4 || v6) {
    const records =
      question.type === 'A'
        ? (v4 ?? []).map((data) => ({ type: 'A', name: question.name, ttl: local.ttl, class: 'IN', data }) as Answer)
        : question.type === 'AAAA'
          ? (v6 ?? []).map((data) => ({ type: 'AAAA', name: question.name, ttl: local.ttl, class: 'IN', data }) as Answer)
          : [];
    return answer(RCODE.NOERROR, records, `the host's /etc/hosts${records.length ? '' : ` (no ${question.type})`}`, true);
  }
  return { kind: 'forward', question, maxSize: clientSize(packet).size };
}

/** `answer` with the id `id` (a new buffer). */
export function withId(answer: Buffer, id: number): Buffer {
  const out = Buffer.from(answer);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}

/**
 * An upstream's answer fitted to a UDP client: as it is when it fits `maxSize`, else the header
 * and question only with TC set, which tells the client to ask again over TCP (RFC 1035 4.2.1,
 * RFC 7766). Pure.
 */
export function fitUdp(answer: Buffer, maxSize: number): Buffer {
  if (answer.length <= maxSize) return answer;
  const end = questionEnd(answer);
  if (end === null) return headerReply(answer, RCODE.SERVFAIL);
  const out = Buffer.from(answer.subarray(0, end));
  out.writeUInt16BE(out.readUInt16BE(2) | TC, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

/** The parts of dns-packet its type declarations leave out: the question section's own codec. */
const wire = dnsPacket as unknown as {
  question: { decode: ((buf: Buffer, offset: number) => { name: string; type: string; class: string }) & { bytes: number } };
};

/** The first question of a packet and where it ends, read with dns-packet's decoder; null when it can't be read. */
function firstQuestion(packet: Buffer): { question: Question; end: number } | null {
  try {
    if (packet.length < HEADER_BYTES || packet.readUInt16BE(4) < 1) return null;
    const q = wire.question.decode(packet, HEADER_BYTES);
    return { question: { name: q.name, type: q.type, class: q.class }, end: HEADER_BYTES + wire.question.decode.bytes };
  } catch {
    return null;
  }
}

function questionEnd(packet: Buffer): number | null {
  return firstQuestion(packet)?.end ?? null;
}

/** The rcode of an answer (header bits; the extended bits of EDNS are not needed here). */
export function rcodeOf(answer: Buffer): number {
  return answer.length >= 4 ? answer.readUInt16BE(2) & 0x000f : RCODE.SERVFAIL;
}

/** SERVFAIL for `query`, with its question when it can be echoed. */
export function servfail(query: Buffer): Buffer {
  const end = questionEnd(query);
  if (end === null) return headerReply(query, RCODE.SERVFAIL);
  const out = Buffer.from(query.subarray(0, end));
  out.writeUInt16BE(QR | (out.readUInt16BE(2) & (OPCODE_MASK | RD | CD)) | RA | RCODE.SERVFAIL, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}

/** REFUSED for `query` (a source over its rate), with its question when it can be echoed. */
export function refused(query: Buffer): Buffer {
  const out = servfail(query);
  out.writeUInt16BE((out.readUInt16BE(2) & ~0x000f) | RCODE.REFUSED, 2);
  return out;
}

/**
 * Whether `answer` is a response to `question` (one question: the same name, case-insensitively,
 * type and class). Only the header and question are read: an upstream's records are passed on as
 * they came, whatever dns-packet makes of them.
 */
export function answersQuestion(answer: Buffer, question: Question): boolean {
  if (answer.length < HEADER_BYTES || !(answer.readUInt16BE(2) & QR) || answer.readUInt16BE(4) !== 1) return false;
  const q = firstQuestion(answer)?.question;
  return q !== undefined && canonicalName(q.name) === canonicalName(question.name) && q.type === question.type && q.class === question.class;
}
