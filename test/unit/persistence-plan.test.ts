import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PersistChoice } from '../../src/model/config.js';
import { down, planChange, resolveDesired, up } from '../../src/engine/converge.js';
import { loadState } from '../../src/engine/state-store.js';
import { renderPlan } from '../../src/model/steps.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, readTree, rootedContext } from '../support/rooted.js';

const UNRENDERED = { rooted: false, root: '/' };

/** How the diff library renders a new file; written out here so the test doesn't reuse the code under test. */
function newFile(path: string, mode: string, lines: string[]): string {
  return [`# write ${path} (mode ${mode})`, '--- /dev/null', `+++ b${path}`, `@@ -0,0 +1,${lines.length} @@`, ...lines.map((l) => `+${l}`)].join('\n');
}

const HEADER = '# Managed by hostalias: `hostalias down` removes this. Edits are overwritten by `hostalias up`.';
const ADD_ALIAS = '$ ip addr replace 10.254.254.254/32 dev lo label lo:hostalias';
const DEBIAN_INTERFACES = '# interfaces(5) file used by ifup(8) and ifdown(8)\nauto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n';
const ALPINE_INTERFACES = 'auto eth0\niface eth0 inet dhcp\n';

interface Case {
  name: string;
  persist: PersistChoice;
  files: Record<string, string>;
  /** The kind and reason `auto` (or the explicit choice) must report. */
  reason: string;
  plan: string;
}

const cases: Case[] = [
  {
    name: 'systemd (auto: systemd installed in the target root, no netplan)',
    persist: 'auto',
    files: { '/usr/sbin/ip': '', '/lib/systemd/systemd': '' },
    reason: 'systemd: systemd is installed in the target root, no netplan',
    plan: [
      ADD_ALIAS,
      newFile('/etc/systemd/system/hostalias.service', '0644', [
        HEADER,
        '[Unit]',
        'Description=hostalias: loopback alias 10.254.254.254/32 so containers reach this host',
        'DefaultDependencies=no',
        'Wants=network-pre.target',
        'Before=network-pre.target docker.service',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStart=/usr/sbin/ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
        'ExecStop=-/usr/sbin/ip addr del 10.254.254.254/32 dev lo',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
      ]),
      '$ ln -sf /etc/systemd/system/hostalias.service /etc/systemd/system/multi-user.target.wants/hostalias.service',
    ].join('\n'),
  },
  {
    name: 'systemd-networkd (explicit)',
    persist: 'networkd',
    files: { '/usr/sbin/ip': '', '/lib/systemd/systemd': '', '/etc/systemd/network/10-eth0.network': '[Match]\nName=eth0\n[Network]\nDHCP=yes\n' },
    reason: 'networkd: chosen with --persist networkd',
    plan: [
      ADD_ALIAS,
      newFile('/etc/systemd/network/10-hostalias-lo.network', '0644', [HEADER, '[Match]', 'Name=lo', '', '[Network]', 'Address=10.254.254.254/32']),
    ].join('\n'),
  },
  {
    name: 'netplan (auto: netplan renders with networkd)',
    persist: 'auto',
    files: {
      '/usr/sbin/ip': '',
      '/lib/systemd/systemd': '',
      '/etc/netplan/50-cloud-init.yaml': 'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    eth0:\n      dhcp4: true\n',
    },
    reason: 'netplan: /etc/netplan has 50-cloud-init.yaml rendered by networkd',
    plan: [
      ADD_ALIAS,
      newFile('/etc/netplan/90-hostalias.yaml', '0600', [
        HEADER,
        'network:',
        '  version: 2',
        '  renderer: networkd',
        '  ethernets:',
        '    lo:',
        '      match:',
        '        name: lo',
        '      addresses:',
        '        - 10.254.254.254/32',
      ]),
    ].join('\n'),
  },
  {
    name: 'ifupdown with a Debian `iface lo inet loopback` stanza (auto: no systemd in the root)',
    persist: 'auto',
    files: { '/usr/sbin/ip': '', '/etc/network/interfaces': DEBIAN_INTERFACES },
    reason: 'ifupdown: /etc/network/interfaces exists and no systemd in the target root',
    plan: [
      ADD_ALIAS,
      newFile('/var/lib/hostalias/backups/etc_network_interfaces', '0600', DEBIAN_INTERFACES.trimEnd().split('\n')),
      '# write /etc/network/interfaces (mode 0644)',
      '--- a/etc/network/interfaces',
      '+++ b/etc/network/interfaces',
      '@@ -1,5 +1,9 @@',
      ' # interfaces(5) file used by ifup(8) and ifdown(8)',
      ' auto lo',
      ' iface lo inet loopback',
      '+# BEGIN hostalias (managed: removed by `hostalias down`)',
      '+    up /usr/sbin/ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
      '+    down /usr/sbin/ip addr del 10.254.254.254/32 dev lo || true',
      '+# END hostalias',
      ' ',
      ' source /etc/network/interfaces.d/*',
    ].join('\n'),
  },
  {
    name: 'ifupdown without a lo stanza (Alpine: /sbin/ip, explicit)',
    persist: 'ifupdown',
    files: { '/sbin/ip': '', '/etc/network/interfaces': ALPINE_INTERFACES },
    reason: 'ifupdown: chosen with --persist ifupdown',
    plan: [
      '$ ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
      newFile('/var/lib/hostalias/backups/etc_network_interfaces', '0600', ALPINE_INTERFACES.trimEnd().split('\n')),
      '# write /etc/network/interfaces (mode 0644)',
      '--- a/etc/network/interfaces',
      '+++ b/etc/network/interfaces',
      '@@ -1,2 +1,8 @@',
      ' auto eth0',
      ' iface eth0 inet dhcp',
      '+# BEGIN hostalias (managed: removed by `hostalias down`)',
      '+auto lo',
      '+iface lo inet loopback',
      '+    up /sbin/ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
      '+    down /sbin/ip addr del 10.254.254.254/32 dev lo || true',
      '+# END hostalias',
    ].join('\n'),
  },
  {
    name: 'NetworkManager (explicit; nmcli is not asked under --root)',
    persist: 'networkmanager',
    files: { '/usr/sbin/ip': '', '/lib/systemd/systemd': '' },
    reason: 'networkmanager: chosen with --persist networkmanager',
    plan: [
      ADD_ALIAS,
      newFile('/etc/NetworkManager/system-connections/hostalias-lo.nmconnection', '0600', [
        HEADER,
        '[connection]',
        'id=hostalias-lo',
        // sha1('hostalias:hostalias-lo') shaped as a v5 UUID: stable, so a rewrite updates the same profile.
        'uuid=ab1abfb8-35c0-5b6c-a906-9ebd15ac2c8d',
        'type=loopback',
        'interface-name=lo',
        'autoconnect=true',
        '',
        '[loopback]',
        '',
        '[ipv4]',
        'method=manual',
        'address1=10.254.254.254/32',
        '',
        '[ipv6]',
        'method=auto',
      ]),
    ].join('\n'),
  },
  {
    name: 'none (auto: nothing to persist with)',
    persist: 'auto',
    files: { '/usr/sbin/ip': '' },
    reason: 'none: no systemd in the target root, no netplan, no /etc/network/interfaces; the alias lasts until reboot (choose one with --persist)',
    plan: ADD_ALIAS,
  },
];

for (const c of cases) {
  test(`plan + apply + re-plan: ${c.name}`, async (t) => {
    const root = await makeRoot(t, c.files);
    const ip = new FakeIp();
    const ctx = rootedContext(ip.runner, root);
    const desired = resolveDesired(null, { persist: c.persist });

    const { plan, decision } = await planChange(ctx, desired, null);
    assert.equal(decision?.reason, c.reason);
    assert.equal(renderPlan(plan, UNRENDERED), c.plan);
    assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo'], 'planning changed nothing');

    const res = await up(ctx, { persist: c.persist });
    assert.equal(res.applied, true);
    assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo', '10.254.254.254/32 lo:hostalias']);
    const state = await loadState(ctx.fs);
    assert.equal(state?.persistence?.kind ?? 'none', c.reason.split(':')[0]);

    const again = await planChange(ctx, state?.desired ?? null, state);
    assert.deepEqual(again.plan.steps, [], 'planning again after apply gives no steps');
    const second = await up(ctx, {});
    assert.equal(second.plan.steps.length, 0, 'a second up changes nothing');

    const before = await readTree(root);
    await down(ctx);
    assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo']);
    const after = await readTree(root);
    // down restores every file it edited byte for byte, removes what it created and its backups;
    // only the journal (an append-only log of what was done) stays.
    const { ['/var/lib/hostalias/journal.log']: journal, ...rest } = after;
    assert.deepEqual(rest, c.files);
    assert.match(journal ?? '', /down: done ip addr del 10\.254\.254\.254\/32 dev lo/);
    if (c.plan !== ADD_ALIAS) assert.ok(Object.keys(before).length > Object.keys(after).length, 'up had installed files');
    const final = await planChange(ctx, null, null);
    assert.deepEqual(final.plan.steps, [], 'nothing left for down to do');
  });
}
