import { posix } from 'node:path';
import type { Context } from '../../model/context.js';
import { defaultDesired, type PersistKind } from '../../model/config.js';
import { hasBlock } from '../../model/marked-block.js';
import { isManaged } from '../../model/managed.js';
import type { State } from '../../model/state.js';
import { HOSTS_PATH, hostsBlockIp } from '../../parts/hosts-file.js';
import { DAEMON_ABSENT_MARKER, DAEMON_BACKUP } from '../../docker/daemon-plan.js';
import { listAddresses } from './ip.js';
import { PATHS } from './persistence.js';

const IPV4 = /\b(\d{1,3}(?:\.\d{1,3}){3})\/32\b/;
const LABEL = /\b(lo:[A-Za-z0-9_.-]{1,12})\b/;
const DEFAULT_LABEL = defaultDesired().label;

/** Persistence files by kind, with how to tell hostalias wrote them. */
const PERSISTENCE_FILES: ReadonlyArray<{ kind: PersistKind; path: string; ours: (text: string) => boolean }> = [
  { kind: 'systemd', path: PATHS.systemdUnit, ours: isManaged },
  { kind: 'networkd', path: PATHS.networkd, ours: isManaged },
  { kind: 'netplan', path: PATHS.netplan, ours: isManaged },
  { kind: 'networkmanager', path: PATHS.nmKeyfile, ours: isManaged },
  { kind: 'ifupdown', path: PATHS.interfaces, ours: (t) => hasBlock(t) },
];

/**
 * What hostalias may have installed, found by its own markers when state.json is missing or
 * unreadable: its persistence files (managed header or marked block) and the alias
 * they name, addresses on lo carrying the hostalias label, the marked block in /etc/hosts, the
 * daemon.json backup. Returns one state per alias address found (each is torn down), and what
 * was found, for the user. The firewall table and relay units are found by their own parts
 * without a state. Read-only.
 */
export async function discoverLinux(ctx: Context): Promise<{ states: State[]; found: string[] }> {
  const found: string[] = [];
  const aliases = new Map<string, string>(); // ip → label
  let persistence: { kind: PersistKind; ip: string | null; label: string | null } | null = null;
  for (const f of PERSISTENCE_FILES) {
    const text = await ctx.fs.read(f.path);
    if (text === null || !f.ours(text)) continue;
    const ip = IPV4.exec(text)?.[1] ?? null;
    const label = LABEL.exec(text)?.[1] ?? null;
    persistence ??= { kind: f.kind, ip, label };
    found.push(`${f.path} (${f.kind} persistence${ip ? ` of ${ip}` : ''})`);
    if (ip) aliases.set(ip, label ?? DEFAULT_LABEL);
  }
  if (ctx.live) {
    for (const a of await listAddresses(ctx.runner)) {
      if (a.ifname !== 'lo' || a.family !== 'inet' || a.prefixlen !== 32) continue;
      if (a.label !== DEFAULT_LABEL && !(a.label && [...aliases.values()].includes(a.label))) continue;
      found.push(`${a.local}/32 on lo labelled ${a.label}`);
      aliases.set(a.local, a.label);
    }
  }
  const hosts = await ctx.fs.read(HOSTS_PATH);
  const hostsBlock = hosts !== null && hasBlock(hosts);
  if (hostsBlock) {
    found.push(`the hostalias block in ${HOSTS_PATH}`);
    const ip = hostsBlockIp(hosts ?? '');
    if (ip && !aliases.has(ip)) aliases.set(ip, DEFAULT_LABEL);
  }
  const daemon = (await ctx.fs.exists(DAEMON_BACKUP)) || (await ctx.fs.exists(DAEMON_ABSENT_MARKER));
  if (daemon) found.push(`the daemon.json backup in ${posix.dirname(DAEMON_BACKUP)}`);
  if (aliases.size === 0 && (persistence || hostsBlock || daemon)) aliases.set(defaultDesired().ip, DEFAULT_LABEL);
  const states = [...aliases].map(([ip, label]): State => {
    const kind = persistence?.ip === null || persistence?.ip === ip ? (persistence?.kind ?? null) : null;
    return {
      version: 1,
      desired: { ...defaultDesired(), ip, label, hostsFile: hostsBlock, dockerDaemon: daemon, persist: kind ?? 'none' },
      persistence: kind ? { kind, reason: 'found by its markers', ip, label: persistence?.label ?? label } : null,
      updatedAt: new Date().toISOString(),
    };
  });
  return { states, found };
}
