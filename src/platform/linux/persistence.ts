import { createHash } from 'node:crypto';
import type { PersistKind } from '../../model/config.js';
import { backupPathFor, type InstalledPersistence } from '../../model/state.js';
import { HostaliasError } from '../../model/errors.js';
import { versionAtLeast } from '../../model/version.js';
import { isManaged, managedHeader } from '../../model/managed.js';
import { systemdExecLine } from './systemd.js';
import type { AliasTarget } from './alias.js';
import { hasBlock, setBlock, stripBlock } from '../../model/marked-block.js';
import { emptyPlan, type Plan, type Step } from '../../model/steps.js';

export const PATHS = {
  systemdUnit: '/etc/systemd/system/hostalias.service',
  systemdWants: '/etc/systemd/system/multi-user.target.wants/hostalias.service',
  networkd: '/etc/systemd/network/10-hostalias-lo.network',
  netplan: '/etc/netplan/90-hostalias.yaml',
  interfaces: '/etc/network/interfaces',
  nmKeyfile: '/etc/NetworkManager/system-connections/hostalias-lo.nmconnection',
} as const;

/** What the persistence planner needs to know about the system; gathered by `observePersistence`. */
export interface PersistObserved {
  files: Record<string, string | null>;
  wantsLink: string | null;
  /** Absolute path of `ip` on the target system, for boot-time commands. */
  ipPath: string;
  systemdRunning: boolean;
  networkdRunning: boolean;
  netplanPresent: boolean;
  nmRunning: boolean;
  /** `nmcli --version`, null when nmcli is absent. */
  nmVersion: string | null;
}

interface FileArtifact {
  path: string;
  content: string;
  mode: number;
  /** Edited in place (a marked block) rather than owned; backed up before the first edit. */
  edited?: boolean;
}

const HEADER = managedHeader('#', 'hostalias down');

export function systemdUnit(t: AliasTarget, ipPath: string): string {
  return `${HEADER}
[Unit]
Description=hostalias: loopback alias ${t.ip}/32 so containers reach this host
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${systemdExecLine([ipPath, 'addr', 'replace', `${t.ip}/32`, 'dev', 'lo', 'label', t.label])}
ExecStop=-${systemdExecLine([ipPath, 'addr', 'del', `${t.ip}/32`, 'dev', 'lo'])}

[Install]
WantedBy=multi-user.target
`;
}

export function networkdFile(t: AliasTarget): string {
  return `${HEADER}\n[Match]\nName=lo\n\n[Network]\nAddress=${t.ip}/32\n`;
}

export function netplanFile(t: AliasTarget): string {
  return `${HEADER}
network:
  version: 2
  renderer: networkd
  ethernets:
    lo:
      match:
        name: lo
      addresses:
        - ${t.ip}/32
`;
}

/** A stable UUID per profile name, so rewriting the keyfile doesn't create a new connection. */
function nameUuid(name: string): string {
  const h = createHash('sha1').update(`hostalias:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * NetworkManager 1.42 refuses a loopback profile without a (possibly empty) `[loopback]` section
 * ("setting required for connection of type 'loopback'") and with `ipv6.method=ignore` ("not
 * supported for loopback"); `auto` is what `nmcli --offline connection add type loopback` writes.
 * NM keeps 127.0.0.1/8 and ::1 on lo next to the manual address.
 */
export function nmKeyfile(t: AliasTarget): string {
  return `${HEADER}
[connection]
id=hostalias-lo
uuid=${nameUuid('hostalias-lo')}
type=loopback
interface-name=lo
autoconnect=true

[loopback]

[ipv4]
method=manual
address1=${t.ip}/32

[ipv6]
method=auto
`;
}

/** The `lo` stanza's up/down hooks; an `address` line would flush lo on `ifdown`. */
export function interfacesWithAlias(current: string | null, t: AliasTarget, ipPath: string): string {
  const hooks = [`    up ${ipPath} addr replace ${t.ip}/32 dev lo label ${t.label}`, `    down ${ipPath} addr del ${t.ip}/32 dev lo || true`];
  const text = current ?? '';
  const stanza = /^\s*iface\s+lo\s+inet\s+loopback\b/;
  const hasStanza = stripBlock(text)
    .split('\n')
    .some((l) => stanza.test(l));
  return hasStanza ? setBlock(text, hooks, stanza) : setBlock(text, ['auto lo', 'iface lo inet loopback', ...hooks]);
}

function artifacts(kind: PersistKind, t: AliasTarget, obs: PersistObserved): FileArtifact[] {
  switch (kind) {
    case 'systemd':
      return [{ path: PATHS.systemdUnit, content: systemdUnit(t, obs.ipPath), mode: 0o644 }];
    case 'networkd':
      return [{ path: PATHS.networkd, content: networkdFile(t), mode: 0o644 }];
    case 'netplan':
      return [{ path: PATHS.netplan, content: netplanFile(t), mode: 0o600 }];
    case 'networkmanager':
      return [{ path: PATHS.nmKeyfile, content: nmKeyfile(t), mode: 0o600 }];
    case 'ifupdown':
      return [{ path: PATHS.interfaces, content: interfacesWithAlias(obs.files[PATHS.interfaces] ?? null, t, obs.ipPath), mode: 0o644, edited: true }];
    case 'launchd': // macOS only (launchdPart in src/platform/darwin/parts.ts); the Linux backend refuses it earlier
    case 'none':
      return [];
  }
}

/** Service-manager calls that make the manager notice changed files; skipped under --root. */
function reloadSteps(kind: PersistKind, obs: PersistObserved): Step[] {
  const svc = (argv: string[], why: string): Step => ({ kind: 'run', argv, service: true, why });
  switch (kind) {
    case 'systemd':
      return obs.systemdRunning ? [svc(['systemctl', 'daemon-reload'], 'make systemd read the unit')] : [];
    case 'networkd':
      return obs.networkdRunning ? [svc(['networkctl', 'reload'], 'make systemd-networkd read the .network file')] : [];
    case 'netplan':
      return obs.netplanPresent ? [svc(['netplan', 'generate'], 'render the netplan config for the next boot')] : [];
    case 'networkmanager':
      return obs.nmRunning ? [svc(['nmcli', 'connection', 'reload'], 'make NetworkManager read the keyfile')] : [];
    default:
      return [];
  }
}

function installSteps(kind: PersistKind, t: AliasTarget, obs: PersistObserved): Step[] {
  if (kind === 'networkmanager' && obs.nmVersion !== null && !versionAtLeast(obs.nmVersion, '1.42')) {
    throw new HostaliasError(
      'unsupported',
      `NetworkManager ${obs.nmVersion} can't manage the loopback (loopback profiles need 1.42 or newer)`,
      'use --persist systemd instead',
    );
  }
  const steps: Step[] = [];
  for (const a of artifacts(kind, t, obs)) {
    const before = obs.files[a.path] ?? null;
    if (before === a.content) continue;
    if (!a.edited && before !== null && !isManaged(before)) {
      // A file hostalias didn't write sits where its own would go: never overwrite (and later delete) it.
      throw new HostaliasError(
        'conflict',
        `${a.path} exists and was not written by hostalias`,
        `move it away (sudo mv ${a.path} ${a.path}.orig) and run hostalias up again, or choose another --persist`,
      );
    }
    const backup = backupPathFor(a.path);
    if (a.edited && before !== null && !hasBlock(before) && (obs.files[backup] ?? null) === null) {
      steps.push({ kind: 'write', path: backup, content: before, mode: 0o600, before: null, why: `back up ${a.path} before editing it` });
    }
    steps.push({ kind: 'write', path: a.path, content: a.content, mode: a.mode, before, why: `persist the alias across reboots (${kind})` });
  }
  if (kind === 'systemd' && obs.wantsLink !== PATHS.systemdUnit) {
    steps.push({ kind: 'symlink', path: PATHS.systemdWants, target: PATHS.systemdUnit, why: 'enable the unit for multi-user.target' });
  }
  return steps.length > 0 ? [...steps, ...reloadSteps(kind, obs)] : [];
}

function uninstallSteps(previous: InstalledPersistence, obs: PersistObserved): Step[] {
  const { kind } = previous;
  const steps: Step[] = [];
  if (kind === 'systemd' && obs.wantsLink !== null) {
    steps.push({ kind: 'remove', path: PATHS.systemdWants, before: null, why: 'disable the unit' });
  }
  for (const a of artifacts(kind, previous, obs)) {
    const before = obs.files[a.path] ?? null;
    if (before === null) continue;
    if (a.edited) {
      if (hasBlock(before))
        steps.push({ kind: 'write', path: a.path, content: stripBlock(before), mode: a.mode, before, why: `remove hostalias's lines from ${a.path}` });
      const backup = backupPathFor(a.path);
      if ((obs.files[backup] ?? null) !== null)
        steps.push({ kind: 'remove', path: backup, before: obs.files[backup] ?? null, why: `drop the backup of ${a.path}` });
    } else if (isManaged(before)) {
      steps.push({ kind: 'remove', path: a.path, before, why: `remove the ${kind} persistence file` });
    }
  }
  return steps.length > 0 ? [...steps, ...reloadSteps(kind, obs)] : [];
}

/**
 * Converges boot-time persistence: installs `desired` and removes what a previous `up` installed
 * when its kind changed. Pure; idempotent (planning again after apply returns no steps).
 */
export function planPersistence(
  desired: (InstalledPersistence & { kind: PersistKind }) | null,
  previous: InstalledPersistence | null,
  obs: PersistObserved,
): Plan {
  const plan = emptyPlan();
  if (previous && previous.kind !== desired?.kind) plan.steps.push(...uninstallSteps(previous, obs));
  if (desired) plan.steps.push(...installSteps(desired.kind, desired, obs));
  return plan;
}

/** Every file the persistence planner may read, for the observer. */
export function persistencePaths(): string[] {
  const owned = Object.values(PATHS).filter((p) => p !== PATHS.systemdWants);
  return [...owned, backupPathFor(PATHS.interfaces)];
}
