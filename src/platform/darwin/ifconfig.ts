import { aliasOnLoopback, inSubnet } from '../../model/address.js';
import { HostaliasError } from '../../model/errors.js';
import { runChecked } from '../../exec/runner.js';
import type { Runner } from '../../model/runner.js';
import { emptyPlan, type Plan } from '../../model/steps.js';

/** One address as macOS `ifconfig` prints it; `peer` is the far end of a point-to-point link (utun). */
export interface MacAddress {
  ifname: string;
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  peer?: string;
}

/** Bits set in `ifconfig`'s hex netmask (`0xffffffff` → 32). */
export function prefixFromHexNetmask(hex: string): number {
  const n = Number.parseInt(hex, 16);
  if (!Number.isFinite(n)) return 32;
  let bits = 0;
  for (let v = n >>> 0; v !== 0; v >>>= 1) bits += v & 1;
  return bits;
}

/**
 * Parses macOS `ifconfig` / `ifconfig -a` / `ifconfig lo0` output. Pure. Interface headers start
 * at column 0 (`lo0: flags=8049<…> mtu 16384`); address lines are tab-indented:
 * `inet 10.254.254.254 netmask 0xffffffff`, `inet 10.8.0.6 --> 10.8.0.5 netmask 0xffffffff`,
 * `inet6 fe80::1%lo0 prefixlen 64 scopeid 0x1`.
 */
export function parseIfconfig(text: string): MacAddress[] {
  const out: MacAddress[] = [];
  let ifname: string | null = null;
  for (const line of text.split('\n')) {
    const header = /^([A-Za-z0-9_.-]+): flags=/.exec(line);
    if (header) {
      ifname = header[1] ?? null;
      continue;
    }
    if (!ifname) continue;
    const v4 = /^\s+inet (\d+\.\d+\.\d+\.\d+)(?: --> (\d+\.\d+\.\d+\.\d+))? netmask (0x[0-9a-fA-F]+)/.exec(line);
    if (v4?.[1] && v4[3]) {
      out.push({ ifname, family: 'inet', local: v4[1], prefixlen: prefixFromHexNetmask(v4[3]), ...(v4[2] ? { peer: v4[2] } : {}) });
      continue;
    }
    const v6 = /^\s+inet6 ([0-9a-fA-F:.]+)(?:%\S+)? prefixlen (\d+)/.exec(line);
    if (v6?.[1] && v6[2]) out.push({ ifname, family: 'inet6', local: v6[1], prefixlen: Number(v6[2]) });
  }
  return out;
}

/** Dotted netmask of a prefix length (8 → 255.0.0.0). Pure. */
export function netmaskOf(prefixlen: number): string {
  const n = prefixlen === 0 ? 0 : (0xffffffff << (32 - prefixlen)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function aliasAddArgv(ip: string): string[] {
  // Without an explicit netmask macOS gives a 10.x alias the classful /8 (0xff000000), which
  // would make the whole 10/8 local; /32 claims exactly one address.
  return ['ifconfig', 'lo0', 'alias', ip, 'netmask', '255.255.255.255'];
}

export function aliasDelArgv(ip: string): string[] {
  return ['ifconfig', 'lo0', '-alias', ip];
}

/** An IPv4 /32 on lo0: how hostalias adds its alias. */
export function isLo0Slash32(a: MacAddress): boolean {
  return a.ifname === 'lo0' && a.family === 'inet' && a.prefixlen === 32;
}

/** The alias is on lo0 as a /32 in ifconfig's listing (model/address.ts aliasOnLoopback decides). Pure. */
export function isLo0AliasPresent(addrs: readonly MacAddress[], ip: string): boolean {
  return aliasOnLoopback(
    addrs.filter((a) => a.family === 'inet').map((a) => ({ name: a.ifname, address: a.local, prefixlen: a.prefixlen })),
    ip,
  );
}

/** `ip` on lo0 with a wider netmask than /32 (added without "netmask 255.255.255.255"), if it is there. */
export function wideLo0Alias(addrs: readonly MacAddress[], ip: string): MacAddress | undefined {
  return addrs.find((a) => a.ifname === 'lo0' && a.family === 'inet' && a.local === ip && a.prefixlen !== 32);
}

/** Every address of every interface (`ifconfig -a`). Read-only, no root. */
export async function listMacAddresses(runner: Runner): Promise<MacAddress[]> {
  return parseIfconfig((await runChecked(runner, ['ifconfig', '-a'], 'listing addresses')).stdout);
}

/** The addresses of lo0 only (`ifconfig lo0`), for `status`. Read-only, no root. */
export async function listLo0(runner: Runner): Promise<MacAddress[]> {
  return parseIfconfig((await runChecked(runner, ['ifconfig', 'lo0'], 'listing the addresses of lo0')).stdout);
}

/**
 * Refuses an address macOS already uses elsewhere, as the Linux check does. Pure. Throws a
 * `conflict` error naming the interface and the fix.
 */
export function checkMacAliasConflicts(ip: string, addrs: readonly MacAddress[]): void {
  for (const a of addrs) {
    if (a.family !== 'inet') continue;
    // The same address on lo0 with a wider netmask is no conflict: planMacAlias replaces it.
    if (a.ifname === 'lo0') continue;
    if (a.local === ip || a.peer === ip) {
      throw new HostaliasError(
        'conflict',
        `${ip} is already used by ${a.ifname}${a.peer === ip ? ' (as the far end of its point-to-point link)' : ''}`,
        'choose another address with --ip (for example 10.254.254.253)',
      );
    }
    if (a.prefixlen < 32 && inSubnet(ip, a.local, a.prefixlen)) {
      throw new HostaliasError(
        'conflict',
        `${ip} is inside ${a.ifname}'s connected subnet ${a.local}/${a.prefixlen}; hosts on that network could not be told apart from the alias`,
        `choose an address outside ${a.local}/${a.prefixlen} with --ip`,
      );
    }
  }
}

/**
 * Converges lo0 to hold `desiredIp` as a /32 and no longer hold `previousIp`. Pure; idempotent.
 * `desiredIp` null removes the previous alias (`down`).
 */
export function planMacAlias(desiredIp: string | null, previousIp: string | null, addrs: readonly MacAddress[]): Plan {
  const plan = emptyPlan();
  if (previousIp && previousIp !== desiredIp && isLo0AliasPresent(addrs, previousIp)) {
    plan.steps.push({ kind: 'run', argv: aliasDelArgv(previousIp), undo: aliasAddArgv(previousIp), why: `remove the alias ${previousIp} from lo0` });
  }
  // A wider netmask (the classic `ifconfig lo0 alias 10.254.254.254` gives the classful /8): XNU's
  // in_ifinit() gives every loopback address RTF_HOST, so no 10/8 route exists and swapping it for
  // the /32 changes nothing else. Undo puts the original netmask back.
  const wide = desiredIp ? wideLo0Alias(addrs, desiredIp) : undefined;
  if (desiredIp && wide) {
    plan.steps.push({
      kind: 'run',
      argv: aliasDelArgv(desiredIp),
      undo: ['ifconfig', 'lo0', 'alias', desiredIp, 'netmask', netmaskOf(wide.prefixlen)],
      why: `remove ${desiredIp}/${wide.prefixlen} from lo0 to add it back as /32`,
    });
  }
  if (desiredIp && !isLo0AliasPresent(addrs, desiredIp)) {
    plan.steps.push({ kind: 'run', argv: aliasAddArgv(desiredIp), undo: aliasDelArgv(desiredIp), why: `add the alias ${desiredIp}/32 to lo0` });
  }
  return plan;
}
