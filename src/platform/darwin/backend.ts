import { DNS_JOB_LABEL, DNS_JOB_LOG } from './dns-launchd.js';
import type { PersistChoice } from '../../model/config.js';
import { usageError } from '../../model/errors.js';
import type { Backend, PersistDecision } from '../../model/context.js';
import { discoverMac } from './discover.js';
import { darwinDoctor } from './doctor.js';
import { verifyMacExpose } from './expose-check.js';
import { forwardLabel, forwardLogPath } from './forward-launchd.js';
import { isLo0AliasPresent, listLo0 } from './ifconfig.js';
import { darwinParts } from './parts.js';
import { MacPreviewRunner } from './preview-runner.js';
import { macRuntimeLibraries } from './node-libraries.js';

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
      throw usageError(
        `--persist ${choice} is a Linux mechanism and does not exist on macOS`,
        'use --persist launchd (the default on macOS) or --persist none',
      );
  }
}

/** macOS: lo0 alias, LaunchDaemon persistence, pf redirects. */
export const darwinBackend: Backend = {
  platform: 'darwin',
  loopback: 'lo0',
  parts: darwinParts,
  async decidePersistence(_ctx, choice) {
    return chooseMacPersistence(choice);
  },
  async aliasPresent(ctx, ip) {
    return isLo0AliasPresent(await listLo0(ctx.runner), ip);
  },
  discover: discoverMac,
  doctor: darwinDoctor,
  // Not read on macOS yet (lsof/netstat parsing): `expose` takes defaultExposeVia unless --via is given.
  async listeners() {
    return null;
  },
  verifyExpose: verifyMacExpose,
  runtimeLibraries: macRuntimeLibraries,
  unknownListenersVia: {
    via: 'relay',
    reason:
      "on macOS a relay connects from 127.0.0.1: pf can't rewrite the source of a redirected connection, and Docker Desktop, OrbStack and Lima connect from this Mac to the alias, so through pf the service would see the alias as its client (--keep-source keeps pf)",
  },
  dnsService: { name: DNS_JOB_LABEL, logs: `tail -f ${DNS_JOB_LOG}` },
  forwardService(spec) {
    const name = forwardLabel(spec);
    return { name, logs: `tail -f ${forwardLogPath(name)}` };
  },
  // launchd is PID 1 on every Mac.
  async serviceManager() {
    return { runs: true, why: '' };
  },
  previewRunner(fs, host, recorded) {
    return new MacPreviewRunner(fs, host, recorded);
  },
};
