import { usageError } from '../model/errors.js';

/** The alias and the names containers use for it: what every Docker integration injects. */
export interface HostTarget {
  ip: string;
  names: string[];
}

export const FLAG_FORMATS = ['args', 'compose', 'json'] as const;
export type FlagFormat = (typeof FLAG_FORMATS)[number];

/** `NAME:ADDR` entries, as `--add-host` and compose `extra_hosts` take them. Pure. */
export function hostEntries(t: HostTarget): string[] {
  return t.names.map((n) => `${n}:${t.ip}`);
}

/** `--add-host=NAME:ADDR` for every name. Pure. */
export function addHostArgs(t: HostTarget): string[] {
  return hostEntries(t).map((e) => `--add-host=${e}`);
}

/**
 * The name of an `--add-host` / `extra_hosts` entry. Docker accepts `NAME:ADDR` and, since
 * Engine 25, `NAME=ADDR` (so IPv6 addresses need no brackets). Pure.
 */
export function entryName(entry: string): string {
  const m = /^\s*([^:=\s]+)\s*[:=]/.exec(entry);
  return m?.[1] ?? entry.trim();
}

/**
 * Renders the flags for `hostalias flags`. Pure.
 * - args: one line, `docker run $(hostalias flags) …` splits it on spaces (names and IPv4 have none)
 * - compose: an `extra_hosts:` block to paste under a service
 * - json: the data, for scripts
 */
export function formatFlags(t: HostTarget, format: FlagFormat): string {
  switch (format) {
    case 'args':
      return addHostArgs(t).join(' ');
    case 'compose':
      return ['extra_hosts:', ...hostEntries(t).map((e) => `  - "${e}"`)].join('\n');
    case 'json':
      return JSON.stringify({ ip: t.ip, names: t.names, extraHosts: hostEntries(t), args: addHostArgs(t) }, null, 2);
  }
}

export function parseFlagFormat(input: string): FlagFormat {
  if ((FLAG_FORMATS as readonly string[]).includes(input)) return input as FlagFormat;
  throw usageError(`unknown format "${input}"`, `use --format ${FLAG_FORMATS.join(', --format ')}`);
}
