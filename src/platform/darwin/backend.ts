import type { PersistChoice } from '../../core/config.js';
import { usageError } from '../../errors.js';
import type { PersistDecision } from '../linux/detect.js';

/**
 * What `--persist CHOICE` means on macOS. Pure. `auto` is launchd: a LaunchDaemon is how macOS
 * runs something at every boot. The Linux kinds don't exist here and are refused.
 */
export function chooseMacPersistence(choice: PersistChoice): PersistDecision {
  switch (choice) {
    case 'auto':
      return { kind: 'launchd', reason: 'launchd: macOS runs /Library/LaunchDaemons jobs at every boot' };
    case 'launchd':
      return { kind: 'launchd', reason: 'launchd: chosen with --persist launchd' };
    case 'none':
      return { kind: 'none', reason: 'none: chosen with --persist none; the alias lasts until reboot' };
    default:
      throw usageError(`--persist ${choice} is a Linux mechanism and does not exist on macOS`, 'use --persist launchd (the default on macOS) or --persist none');
  }
}

/** Linux refuses macOS's kind with the same clarity. Pure. */
export function refuseOnLinux(choice: PersistChoice): void {
  if (choice === 'launchd') {
    throw usageError('--persist launchd is macOS only', 'on Linux use --persist auto, systemd, networkd, netplan, ifupdown, networkmanager or none');
  }
}
