import type { Backend } from '../../model/context.js';
import { unitName } from '../../forward/spec.js';
import { runChecked } from '../../exec/runner.js';
import { relaySetUpdate } from './firewall/nft-ruleset.js';
import { SERVE_UNIT } from './forward-units.js';
import { aliasOnLoopback } from '../../model/address.js';
import { isAliasPresent } from './alias.js';
import { choosePersistence, refuseMacPersistence } from './detect.js';
import { linuxDoctor } from './doctor/index.js';
import { discoverLinux } from './discover.js';
import { listAddresses } from './ip.js';
import { observePersistProbes } from './observe.js';
import { linuxParts } from './parts.js';
import { readListeners, readRelaysOn, readSocketOwners } from './doctor/proc-reader.js';
import { DNS_UNIT } from './dns-unit.js';
import { LinuxPreviewRunner } from './preview-runner.js';
import { systemdManager } from './systemd.js';

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
  async portHolders(_ctx, proto, address, port) {
    const wild = new Set([address, '0.0.0.0', '::', `::ffff:${address}`]);
    const held = (await readListeners()).filter((l) => l.proto === proto && l.port === port && wild.has(l.address));
    const owners = await readSocketOwners(new Set(held.map((l) => l.inode)));
    return [...new Set(held.map((l) => `${owners.get(l.inode) ?? 'a process hostalias may not see (run as root)'} on ${l.address}:${port}`))];
  },
  dnsService: { name: DNS_UNIT, logs: `journalctl -u ${DNS_UNIT}` },
  async applyLoopbackSets(ctx, _ip, sets) {
    await runChecked(ctx.runner, ['nft', '-f', '-'], "updating expose --all's sets (::1-only ports, sockets on the alias)", {
      input: relaySetUpdate(sets.relayed, sets.direct),
    });
  },
  serveService: { name: SERVE_UNIT, logs: `journalctl -u ${SERVE_UNIT}` },
  forwardService(spec) {
    const name = unitName(spec);
    return { name, logs: `journalctl -u ${name}` };
  },
  serviceManager: systemdManager,
  relaysOn: readRelaysOn,
  previewRunner(_fs, host) {
    return new LinuxPreviewRunner(host);
  },
};
