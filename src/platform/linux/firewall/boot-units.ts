import { managedHeader } from '../../../model/managed.js';
import { systemdExecLine } from '../systemd.js';

/**
 * The systemd unit that brings the firewall back at boot. `bridges` is hostalias-bridges.service,
 * the Docker-network watcher of earlier versions: container networks are now trusted by kind
 *, so it is only ever removed.
 */
export const UNITS = {
  firewall: '/etc/systemd/system/hostalias-firewall.service',
  firewallWants: '/etc/systemd/system/multi-user.target.wants/hostalias-firewall.service',
  bridges: '/etc/systemd/system/hostalias-bridges.service',
  bridgesWants: '/etc/systemd/system/multi-user.target.wants/hostalias-bridges.service',
} as const;

const HEADER = managedHeader('#', 'hostalias down');

/**
 * Loads the rules early, before the network and Docker come up, so the LAN guard is in place
 * as soon as the alias is (the alias unit runs Before=network-pre.target too).
 */
export function firewallUnit(ip: string, execStart: ReadonlyArray<readonly string[]>, execStop: ReadonlyArray<readonly string[]>): string {
  return `${HEADER}
[Unit]
Description=hostalias: firewall rules for ${ip} (LAN guard, exposed ports)
DefaultDependencies=no
Wants=network-pre.target
After=local-fs.target hostalias.service
Before=network-pre.target docker.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
${execStart.map((a) => `ExecStart=${systemdExecLine(a)}`).join('\n')}
${execStop.map((a) => `ExecStop=-${systemdExecLine(a)}`).join('\n')}

[Install]
WantedBy=multi-user.target
`;
}
