import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePersistence, type PersistProbes } from '../../src/platform/linux/detect.js';
import { observePersistProbes } from '../../src/platform/linux/observe.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, rootedContext } from '../support/rooted.js';

const NONE: PersistProbes = { pid1: null, systemdInstalled: false, netplanConfigs: {}, interfacesFile: false };
const NETPLAN_NETWORKD = 'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0: {dhcp4: true}\n';
const NETPLAN_NM = 'network:\n  version: 2\n  renderer: NetworkManager\n';

const cases: Array<[string, Parameters<typeof choosePersistence>[0], PersistProbes, string, string]> = [
  ['PID 1 systemd, no netplan', 'auto', { ...NONE, pid1: 'systemd', systemdInstalled: true }, 'systemd', 'systemd: PID 1 is systemd, no netplan'],
  [
    'PID 1 systemd, interfaces file too (Debian 12 server)',
    'auto',
    { ...NONE, pid1: 'systemd', systemdInstalled: true, interfacesFile: true },
    'systemd',
    'systemd: PID 1 is systemd, no netplan',
  ],
  [
    'netplan rendered by networkd (Ubuntu server)',
    'auto',
    { ...NONE, pid1: 'systemd', systemdInstalled: true, netplanConfigs: { '50-cloud-init.yaml': NETPLAN_NETWORKD } },
    'netplan',
    'netplan: /etc/netplan has 50-cloud-init.yaml rendered by networkd',
  ],
  [
    'netplan rendered by NetworkManager + systemd (Ubuntu desktop)',
    'auto',
    { ...NONE, pid1: 'systemd', systemdInstalled: true, netplanConfigs: { '01-network-manager-all.yaml': NETPLAN_NM } },
    'systemd',
    'systemd: PID 1 is systemd, netplan renders with NetworkManager (01-network-manager-all.yaml)',
  ],
  [
    'sysvinit with /etc/network/interfaces (Debian without systemd)',
    'auto',
    { ...NONE, pid1: 'init', interfacesFile: true },
    'ifupdown',
    'ifupdown: /etc/network/interfaces exists and PID 1 is init',
  ],
  [
    'OpenRC with interfaces (Alpine)',
    'auto',
    { ...NONE, pid1: 'openrc-init', interfacesFile: true },
    'ifupdown',
    'ifupdown: /etc/network/interfaces exists and PID 1 is openrc-init',
  ],
  [
    'nothing to persist with (a container)',
    'auto',
    { ...NONE, pid1: 'node' },
    'none',
    'none: PID 1 is node, no netplan, no /etc/network/interfaces; the alias lasts until reboot (choose one with --persist)',
  ],
  [
    'explicit choice wins over detection',
    'ifupdown',
    { ...NONE, pid1: 'systemd', systemdInstalled: true },
    'ifupdown',
    'ifupdown: chosen with --persist ifupdown',
  ],
  ['explicit none', 'none', { ...NONE, pid1: 'systemd' }, 'none', 'none: chosen with --persist none'],
  [
    'rooted: systemd installed in the image, live PID 1 ignored',
    'auto',
    { ...NONE, pid1: null, systemdInstalled: true, interfacesFile: true },
    'systemd',
    'systemd: systemd is installed in the target root, no netplan',
  ],
  [
    'rooted: no systemd in the image, interfaces file',
    'auto',
    { ...NONE, pid1: null, interfacesFile: true },
    'ifupdown',
    'ifupdown: /etc/network/interfaces exists and no systemd in the target root',
  ],
];

for (const [name, choice, probes, kind, reason] of cases) {
  test(`choosePersistence: ${name} → ${kind}`, () => {
    assert.deepEqual(choosePersistence(choice, probes), { kind, reason });
  });
}

test('observePersistProbes under --root reads the folder, never the live machine', async (t) => {
  const root = await makeRoot(t, {
    '/usr/lib/systemd/systemd': '',
    '/etc/netplan/50-cloud-init.yaml': NETPLAN_NETWORKD,
    '/etc/netplan/90-hostalias.yaml': 'ours: ignored\n',
    '/etc/netplan/README': 'not yaml',
    '/etc/network/interfaces': 'auto lo\n',
  });
  const probes = await observePersistProbes(rootedContext(new FakeIp().runner, root));
  assert.deepEqual(probes, { pid1: null, systemdInstalled: true, netplanConfigs: { '50-cloud-init.yaml': NETPLAN_NETWORKD }, interfacesFile: true });

  const empty = await observePersistProbes(rootedContext(new FakeIp().runner, await makeRoot(t)));
  assert.deepEqual(empty, NONE);
});
