import type { PersistDecision } from '../../model/context.js';
import type { PersistChoice } from '../../model/config.js';
import { usageError } from '../../model/errors.js';

/** Facts about the target system that decide how the alias is persisted. */
export interface PersistProbes {
  /** PID 1's name on the live system; null under --root, where the live PID 1 says nothing. */
  pid1: string | null;
  /** systemd is installed on the target (its binary exists under the root). */
  systemdInstalled: boolean;
  /** Contents of /etc/netplan/*.yaml, by file name. */
  netplanConfigs: Record<string, string>;
  /** /etc/network/interfaces exists. */
  interfacesFile: boolean;
}

/** Linux refuses macOS's kind with a clear message. Pure. */
export function refuseMacPersistence(choice: PersistChoice): void {
  if (choice === 'launchd') {
    throw usageError('--persist launchd is macOS only', 'on Linux use --persist auto, systemd, networkd, netplan, ifupdown, networkmanager or none');
  }
}

/**
 * Picks the persistence backend and says why. Pure. An explicit choice wins; `auto` prefers
 * netplan when it renders with networkd (it owns the network config there), then systemd, then
 * ifupdown.
 */
export function choosePersistence(choice: PersistChoice, p: PersistProbes): PersistDecision {
  if (choice !== 'auto') return { kind: choice, reason: `${choice}: chosen with --persist ${choice}` };
  const netplanFiles = Object.keys(p.netplanConfigs);
  const nmRendered = netplanFiles.filter((f) => /renderer:\s*NetworkManager/.test(p.netplanConfigs[f] ?? ''));
  const systemd = p.pid1 === null ? p.systemdInstalled : p.pid1 === 'systemd';
  const systemdWhy = p.pid1 === null ? 'systemd is installed in the target root' : 'PID 1 is systemd';
  if (netplanFiles.length > 0 && nmRendered.length === 0) {
    return { kind: 'netplan', reason: `netplan: /etc/netplan has ${netplanFiles.join(', ')} rendered by networkd` };
  }
  if (systemd) {
    const why = netplanFiles.length > 0 ? `netplan renders with NetworkManager (${nmRendered.join(', ')})` : 'no netplan';
    return { kind: 'systemd', reason: `systemd: ${systemdWhy}, ${why}` };
  }
  // Under --root the live PID 1 says nothing about the target, so the reason names what was looked at.
  const noSystemd = p.pid1 === null ? 'no systemd in the target root' : `PID 1 is ${p.pid1}`;
  if (p.interfacesFile) {
    return { kind: 'ifupdown', reason: `ifupdown: /etc/network/interfaces exists and ${noSystemd}` };
  }
  return { kind: 'none', reason: `none: ${noSystemd}, no netplan, no /etc/network/interfaces; the alias lasts until reboot (choose one with --persist)` };
}
