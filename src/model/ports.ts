import { usageError } from './errors.js';

export type Proto = 'tcp' | 'udp';

/**
 * A port number from the command line (1–65535). `example` is the command shown as the fix,
 * so each caller's error names its own usage. Pure.
 */
export function parsePort(text: string, what: string, example: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`${what} "${text}" is not a port number (1–65535)`, example);
  const n = Number(text);
  if (n < 1 || n > 65535) throw usageError(`${what} ${text} is out of range (1–65535)`, example);
  return n;
}

/** `5432`, `5432/tcp`, `53/udp` → port and protocol (TCP by default). Pure. */
export function parsePortProto(text: string, example: string): { port: number; proto: Proto } {
  const m = /^([^/]*)(?:\/(.*))?$/.exec(text.trim());
  const proto = (m?.[2] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw usageError(`unknown protocol "${m?.[2] ?? ''}" in "${text}": use PORT, PORT/tcp or PORT/udp`, example);
  return { port: parsePort(m?.[1] ?? '', 'port', example), proto };
}
