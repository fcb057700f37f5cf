/**
 * Parsers for /proc/net/{tcp,tcp6,udp,udp6}. Pure. The kernel prints each address as 32-bit words
 * in host byte order, so the byte order of the machine that wrote the text is a parameter.
 */
export type Proto = 'tcp' | 'udp';

export interface Listener {
  proto: Proto;
  family: 4 | 6;
  /** Canonical text: 127.0.0.1, ::, ::1, ::ffff:127.0.0.1. */
  address: string;
  port: number;
  inode: number;
  uid: number;
}

const TCP_LISTEN = '0A';
/** An unconnected UDP socket (TCP_CLOSE with no peer): the UDP meaning of "listening". */
const UDP_UNCONNECTED = '07';

function wordBytes(hex8: string, littleEndian: boolean): number[] {
  const bytes = [0, 2, 4, 6].map((i) => parseInt(hex8.slice(i, i + 2), 16));
  return littleEndian ? bytes.reverse() : bytes;
}

/** Decodes the hex address of /proc/net/{tcp,udp}[6] into text. Pure. */
export function decodeProcAddress(hex: string, littleEndian = true): string {
  if (hex.length === 8) return wordBytes(hex, littleEndian).join('.');
  if (hex.length !== 32) throw new Error(`unexpected address "${hex}" in /proc/net`);
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8), littleEndian));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return compressIpv6(groups);
}

function compressIpv6(groups: number[]): string {
  let best = { start: -1, len: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.len).join(':')}`;
}

/** Listening sockets in the text of one /proc/net file. Pure; skips the header and connected sockets. */
export function parseProcNet(text: string, proto: Proto, family: 4 | 6, littleEndian = true): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, st, , , , uid, , inode] = f.slice(1);
    if (!local || !remote || !st) continue;
    const remotePort = remote.split(':')[1];
    const listening = proto === 'tcp' ? st === TCP_LISTEN : st === UDP_UNCONNECTED && remotePort === '0000';
    if (!listening) continue;
    const [addrHex, portHex] = local.split(':');
    if (!addrHex || !portHex) continue;
    out.push({ proto, family, address: decodeProcAddress(addrHex, littleEndian), port: parseInt(portHex, 16), inode: Number(inode), uid: Number(uid) });
  }
  return out;
}

/** `socket:[12345]` (a /proc/PID/fd link) → 12345. Pure. */
export function socketInode(link: string): number | null {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : null;
}
