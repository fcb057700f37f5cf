/**
 * The checksum POSIX `cksum` prints for a file (ISO/IEC 8802-3 CRC-32, MSB first, over the bytes
 * and then the length, complemented): the launcher asks `cksum` about the files `hostalias run`'s
 * cache depends on and compares with what Node computed here. Pure.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let j = 0; j < 8; j++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function posixCksum(bytes: Uint8Array): number {
  let crc = 0;
  const step = (b: number) => {
    crc = ((crc << 8) ^ (TABLE[((crc >>> 24) ^ b) & 0xff] as number)) >>> 0;
  };
  for (const b of bytes) step(b);
  for (let n = bytes.length; n > 0; n = Math.floor(n / 256)) step(n & 0xff);
  return ~crc >>> 0;
}
