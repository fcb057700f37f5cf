import * as v from 'valibot';
import { HostaliasError } from '../../../model/errors.js';
import type { Step } from '../../../model/steps.js';

export const RECORD_PATH = '/var/lib/hostalias/firewall.json';

/**
 * What the firewall part installed that its files don't say: which backend holds the rules, and
 * the value `route_localnet` had on each interface before hostalias set it, so `down` restores
 * exactly that value.
 */
export interface FirewallRecord {
  backend: 'nftables' | 'iptables';
  routeLocalnet: Record<string, number>;
  /** The container bridges trusted last time: kept when the engine doesn't answer. */
  bridges?: string[];
}

/**
 * Where route_localnet is turned on while a port is exposed: `all`, which the kernel ORs with each
 * interface's own value, so a bridge created later (a new compose network) can deliver DNATed
 * packets to 127.0.0.1 from its first packet. kube-proxy does the same; the CVE-2020-8558
 * hardening rules in the table (nft-ruleset.ts) keep it from opening 127.0.0.0/8 to the LAN.
 * Earlier versions set it per bridge; such records are restored like any other.
 */
export const LOCALNET_SCOPE = 'all';

export function routeLocalnetKey(iface: string): string {
  // sysctl reads '.' as a separator; an interface name with a dot needs the '/' form.
  return iface.includes('.') ? `net/ipv4/conf/${iface}/route_localnet` : `net.ipv4.conf.${iface}.route_localnet`;
}

export function sysctlSetArgv(iface: string, value: number): string[] {
  return ['sysctl', '-q', '-w', `${routeLocalnetKey(iface)}=${value}`];
}

/**
 * Converges route_localnet: 1 on `wanted` (`all`, or interfaces that exist), the recorded previous
 * value everywhere hostalias set it and no longer wants it. Returns the steps and the record of
 * previous values to keep (interfaces that vanished are dropped: nothing is left to restore).
 * Pure; idempotent.
 */
export function planRouteLocalnet(
  wanted: readonly string[],
  current: Readonly<Record<string, number>>,
  recorded: Readonly<Record<string, number>>,
): { steps: Step[]; record: Record<string, number> } {
  const steps: Step[] = [];
  const record: Record<string, number> = {};
  const want = new Set(wanted.filter((i) => current[i] !== undefined));
  for (const [iface, previous] of Object.entries(recorded).sort(([a], [b]) => a.localeCompare(b))) {
    const now = current[iface];
    if (now === undefined) continue;
    if (want.has(iface)) {
      record[iface] = previous;
      continue;
    }
    if (now !== previous)
      steps.push({ kind: 'run', argv: sysctlSetArgv(iface, previous), undo: sysctlSetArgv(iface, now), why: `restore route_localnet=${previous} on ${iface}` });
  }
  for (const iface of [...want].sort()) {
    const now = current[iface] as number;
    if (record[iface] === undefined) record[iface] = now;
    const who = iface === LOCALNET_SCOPE ? 'every interface' : iface;
    if (now !== 1)
      steps.push({
        kind: 'run',
        argv: sysctlSetArgv(iface, 1),
        undo: sysctlSetArgv(iface, now),
        why: `let ${who} deliver DNATed packets to 127.0.0.1 (route_localnet=1)`,
      });
  }
  return { steps, record };
}

export function renderRecord(r: FirewallRecord): string {
  const sorted = Object.fromEntries(Object.entries(r.routeLocalnet).sort(([a], [b]) => a.localeCompare(b)));
  return `${JSON.stringify({ backend: r.backend, routeLocalnet: sorted, ...(r.bridges ? { bridges: [...r.bridges].sort() } : {}) }, null, 2)}\n`;
}

const RecordSchema = v.object({
  backend: v.picklist(['nftables', 'iptables']),
  routeLocalnet: v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:@+-]{1,15}$/)), v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1))),
  bridges: v.optional(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:@+-]{1,15}$/)))),
});

/**
 * Reads the record, validated like state.json. A damaged record is refused: it holds
 * the route_localnet values `down` puts back, and guessing them would change the system wrongly.
 */
export function parseRecord(text: string | null, path = RECORD_PATH): FirewallRecord | null {
  if (text === null) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw recordError(path, `not JSON: ${(err as Error).message}`);
  }
  const result = v.safeParse(RecordSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const at = issue ? v.getDotPath(issue) : null;
    throw recordError(path, `${at ? `${at}: ` : ''}${issue?.message ?? 'does not match the schema'}`);
  }
  return {
    backend: result.output.backend,
    routeLocalnet: { ...result.output.routeLocalnet },
    ...(result.output.bridges ? { bridges: result.output.bridges } : {}),
  };
}

function recordError(path: string, why: string): HostaliasError {
  return new HostaliasError(
    'failed',
    `${path} is unreadable (${why}); nothing was changed`,
    `put back a good copy, or remove it (sudo rm ${path}): hostalias then forgets the route_localnet values it would restore and leaves them as they are`,
  );
}
