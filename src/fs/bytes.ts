/**
 * Files as bytes in a string. Valid UTF-8 decodes as usual; every byte that is not part of a
 * valid UTF-8 sequence becomes the lone surrogate U+DC80+byte (Python's "surrogateescape"), which
 * valid UTF-8 can never produce. Encoding maps those back, so any file round-trips byte for byte
 * (a Latin-1 `é` in /etc/hosts survives `up` + `down`) while planners keep working on
 * strings. Pure; linear in the size.
 */
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ESCAPED = /[\uDC80-\uDCFF]/;

export function decodeBytes(buf: Uint8Array): string {
  try {
    return strict.decode(buf);
  } catch {
    return decodeEscaped(buf);
  }
}

export function encodeBytes(text: string): Buffer {
  if (!ESCAPED.test(text)) return Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  let run = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xdc80 && cp <= 0xdcff) {
      if (run !== '') chunks.push(Buffer.from(run, 'utf8'));
      run = '';
      chunks.push(Buffer.of(cp - 0xdc00));
    } else run += ch;
  }
  if (run !== '') chunks.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(chunks);
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function sequenceLength(buf: Uint8Array, i: number): number {
  const b0 = buf[i] ?? 0;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = buf[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no encoded surrogates
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

function decodeEscaped(buf: Uint8Array): string {
  const parts: string[] = [];
  let start = 0;
  let i = 0;
  while (i < buf.length) {
    const n = sequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > start) parts.push(strict.decode(buf.subarray(start, i)));
    parts.push(String.fromCharCode(0xdc00 + (buf[i] ?? 0)));
    i += 1;
    start = i;
  }
  if (i > start) parts.push(strict.decode(buf.subarray(start, i)));
  return parts.join('');
}
