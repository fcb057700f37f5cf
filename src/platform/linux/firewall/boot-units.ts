/** systemd units that bring the firewall back at boot and follow Docker's networks. */
export const UNITS = {
  firewall: '/etc/systemd/system/hostalias-firewall.service',
  firewallWants: '/etc/systemd/system/multi-user.target.wants/hostalias-firewall.service',
  bridges: '/etc/systemd/system/hostalias-bridges.service',
  bridgesWants: '/etc/systemd/system/multi-user.target.wants/hostalias-bridges.service',
} as const;

const HEADER = '# Managed by hostalias: `hostalias down` removes this. Edits are overwritten by `hostalias up`.';

/**
 * Loads the rules early, before the network and Docker come up, so the LAN guard is in place
 * as soon as the alias is (the alias unit runs Before=network-pre.target too).
 */
export function firewallUnit(ip: string, execStart: readonly string[], execStop: readonly string[]): string {
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
ExecStart=${execStart.join(' ')}
ExecStop=-${execStop.join(' ')}

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Keeps the trusted-interface set and route_localnet in step with Docker: refreshes once Docker
 * is up (its bridges exist again after a reboot with route_localnet=0), then on every network
 * created or removed (a new compose network gets a new br-… bridge).
 */
export function bridgesUnit(node: string, cli: string): string {
  return `${HEADER}
[Unit]
Description=hostalias: follow Docker bridge networks for the firewall rules
After=docker.service hostalias-firewall.service
Wants=hostalias-firewall.service

[Service]
ExecStart=${node} ${cli} refresh --watch
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}
