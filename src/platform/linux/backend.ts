import type { Backend } from '../../model/context.js';
import { unitName } from '../../forward/spec.js';
import { aliasOnLoopback } from '../../model/address.js';
import { isAliasPresent } from './alias.js';
import { choosePersistence, refuseMacPersistence } from './detect.js';
import { linuxDoctor } from './doctor/index.js';
import { discoverLinux } from './discover.js';
import { listAddresses } from './ip.js';
import { observePersistProbes } from './observe.js';
import { linuxParts } from './parts.js';
import { readListeners } from './doctor/proc-reader.js';
import { LinuxPreviewRunner } from './preview-runner.js';

/** Linux: iproute2 alias on lo, five persistence kinds, nftables/iptables, systemd units. */
export const linuxBackend: Backend = {
  platform: 'linux',
  loopback: 'lo',
  parts: linuxParts,
  async decidePersistence(ctx, choice) {
    refuseMacPersistence(choice);
    return choosePersistence(choice, await observePersistProbes(ctx));
  },
  async aliasPresent(ctx, ip) {
    // getifaddrs leaves out a lo that is down (a fresh namespace's) with its addresses: then ask ip.
    const native = ctx.native?.addresses();
    const lo = native?.filter((a) => a.name === 'lo' || a.name.startsWith('lo:'));
    if (lo && lo.length > 0) return aliasOnLoopback(lo, ip);
    return isAliasPresent(await listAddresses(ctx.runner), ip);
  },
  discover: discoverLinux,
  doctor: linuxDoctor,
  async listeners() {
    return (await readListeners()).map((l) => ({ proto: l.proto, address: l.address, port: l.port }));
  },
  forwardService(spec) {
    const name = unitName(spec);
    return { name, logs: `journalctl -u ${name}` };
  },
  previewRunner(_fs, host) {
    return new LinuxPreviewRunner(host);
  },
};
