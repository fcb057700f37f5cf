import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { down, planChange, up } from '../../src/engine/converge.js';
import type { State } from '../../src/model/state.js';
import { loadState, saveIntent } from '../../src/engine/state-store.js';
import { HostaliasError } from '../../src/model/errors.js';
import { planPersistence, type PersistObserved } from '../../src/platform/linux/persistence.js';
import { renderPlan } from '../../src/model/steps.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, readTree, rootedContext } from '../support/rooted.js';

const UNRENDERED = { rooted: false, root: '/' };
const DEBIAN_INTERFACES = 'auto lo\niface lo inet loopback\n';
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n# my own line, no newline at the end';

/** A Debian host in a temp root (ip, ifupdown's interfaces, a hosts file: `files`) with a fake `ip`. */
async function debianHost(t: TestContext): Promise<{ files: Record<string, string>; root: string; ip: FakeIp; ctx: ReturnType<typeof rootedContext> }> {
  const files = { '/usr/sbin/ip': '', '/etc/network/interfaces': DEBIAN_INTERFACES, '/etc/hosts': HOSTS };
  const root = await makeRoot(t, files);
  const ip = new FakeIp();
  return { files, root, ip, ctx: rootedContext(ip.runner, root) };
}

test('changing the kind (systemd → ifupdown) uninstalls the old one; down removes everything incl. backups', async (t) => {
  const { files, root, ip, ctx } = await debianHost(t);

  await up(ctx, { persist: 'systemd', hostsFile: true });
  const afterSystemd = await readTree(root);
  assert.equal(afterSystemd['/etc/systemd/system/multi-user.target.wants/hostalias.service'], '-> /etc/systemd/system/hostalias.service');
  assert.equal(afterSystemd['/var/lib/hostalias/backups/etc_hosts'], HOSTS, 'the original /etc/hosts is backed up before the first edit');

  const state = await loadState(ctx.fs);
  assert.ok(state, 'up recorded a state');
  const { plan } = await planChange(ctx, { ...state.desired, persist: 'ifupdown' }, state);
  assert.equal(
    renderPlan(plan, UNRENDERED),
    [
      '$ rm -f /etc/systemd/system/multi-user.target.wants/hostalias.service',
      '$ rm -f /etc/systemd/system/hostalias.service',
      '# write /var/lib/hostalias/backups/etc_network_interfaces (mode 0600)',
      '--- /dev/null',
      '+++ b/var/lib/hostalias/backups/etc_network_interfaces',
      '@@ -0,0 +1,2 @@',
      '+auto lo',
      '+iface lo inet loopback',
      '# write /etc/network/interfaces (mode 0644)',
      '--- a/etc/network/interfaces',
      '+++ b/etc/network/interfaces',
      '@@ -1,2 +1,6 @@',
      ' auto lo',
      ' iface lo inet loopback',
      '+# BEGIN hostalias (managed: removed by `hostalias down`)',
      '+    up /usr/sbin/ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
      '+    down /usr/sbin/ip addr del 10.254.254.254/32 dev lo || true',
      '+# END hostalias',
    ].join('\n'),
    'the alias itself is already there: only the boot config moves',
  );

  await up(ctx, { persist: 'ifupdown' });
  const moved = await readTree(root);
  assert.equal(moved['/etc/systemd/system/hostalias.service'], undefined);
  assert.equal(moved['/etc/systemd/system/multi-user.target.wants/hostalias.service'], undefined);
  assert.match(moved['/etc/network/interfaces'] ?? '', /up \/usr\/sbin\/ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias/);
  const movedState = await loadState(ctx.fs);
  assert.ok(movedState, 'the move recorded a state');
  assert.deepEqual((await planChange(ctx, movedState.desired, movedState)).plan.steps, []);

  const res = await down(ctx);
  assert.ok(res.plan.steps.some((s) => s.kind === 'remove' && s.path === '/var/lib/hostalias/backups/etc_hosts'));
  const { ['/var/lib/hostalias/journal.log']: journal, ...left } = await readTree(root);
  assert.deepEqual(left, files, 'every file is back byte for byte, backups and state are gone');
  assert.ok(journal?.includes('down: done'), 'the journal records what down did');
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo']);
});

test('up --ip NEW moves the alias and rewrites the unit', async (t) => {
  const root = await makeRoot(t, { '/usr/sbin/ip': '' });
  const ip = new FakeIp();
  const ctx = rootedContext(ip.runner, root);
  await up(ctx, { persist: 'systemd' });
  const res = await up(ctx, { ip: '10.254.254.1' });
  const shell = renderPlan(res.plan, UNRENDERED);
  assert.match(
    shell,
    /^\$ ip addr del 10\.254\.254\.254\/32 dev lo\n\$ ip addr replace 10\.254\.254\.1\/32 dev lo label lo:hostalias\n# write \/etc\/systemd\/system\/hostalias\.service/,
  );
  assert.match(shell, /^-ExecStart=\/usr\/sbin\/ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias$/m);
  assert.match(shell, /^\+ExecStart=\/usr\/sbin\/ip addr replace 10\.254\.254\.1\/32 dev lo label lo:hostalias$/m);
  assert.doesNotMatch(shell, /ln -sf/, 'the unit stays enabled');
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo', '10.254.254.1/32 lo:hostalias']);
});

test('up --label NEW relabels the live alias (delete + add) and the unit', async (t) => {
  const root = await makeRoot(t, { '/usr/sbin/ip': '' });
  const ip = new FakeIp();
  const ctx = rootedContext(ip.runner, root);
  await up(ctx, { persist: 'systemd' });
  const res = await up(ctx, { label: 'lo:ha2' });
  const runs = renderPlan({ ...res.plan, steps: res.plan.steps.filter((s) => s.kind === 'run') }, UNRENDERED);
  assert.equal(runs, '$ ip addr del 10.254.254.254/32 dev lo\n$ ip addr replace 10.254.254.254/32 dev lo label lo:ha2');
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo', '10.254.254.254/32 lo:ha2']);
  assert.match((await readTree(root))['/etc/systemd/system/hostalias.service'] ?? '', /label lo:ha2$/m);
  assert.deepEqual((await up(ctx, {})).plan.steps, []);
});

test('a file hostalias did not write at its unit path is a conflict, never overwritten', async (t) => {
  const theirs = '[Service]\nExecStart=/bin/true\n';
  const root = await makeRoot(t, { '/etc/systemd/system/hostalias.service': theirs });
  const ip = new FakeIp();
  const ctx = rootedContext(ip.runner, root);
  await assert.rejects(
    up(ctx, { persist: 'systemd' }),
    (err: unknown) => err instanceof HostaliasError && err.code === 'conflict' && /not written by hostalias/.test(err.message) && /mv/.test(err.fix ?? ''),
  );
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo'], 'nothing was applied');
  assert.deepEqual(await readTree(root), { '/etc/systemd/system/hostalias.service': theirs }, 'their file is untouched, no state');
});

const LIVE: PersistObserved = {
  files: {},
  wantsLink: null,
  ipPath: '/usr/sbin/ip',
  systemdRunning: true,
  networkdRunning: true,
  netplanPresent: true,
  nmRunning: true,
  nmVersion: '1.42.4',
};
const T = { ip: '10.254.254.254', label: 'lo:hostalias', reason: 'test' };

test('on a live system the service manager is told about new files (install and uninstall)', () => {
  const reload = (kind: 'systemd' | 'networkd' | 'netplan' | 'networkmanager') => {
    const install = planPersistence({ ...T, kind }, null, LIVE).steps.filter((s) => s.kind === 'run');
    return renderPlan({ steps: install, notes: [], warnings: [] }, { rooted: true, root: '/r' });
  };
  assert.equal(reload('systemd'), '$ systemctl daemon-reload    # skipped (files under a folder)');
  assert.equal(reload('networkd'), '$ networkctl reload    # skipped (files under a folder)');
  assert.equal(reload('netplan'), '$ netplan generate    # skipped (files under a folder)');
  assert.equal(reload('networkmanager'), '$ nmcli connection reload    # skipped (files under a folder)');

  const installed = {
    ...LIVE,
    files: { '/etc/systemd/system/hostalias.service': '# Managed by hostalias: `hostalias down` removes this. Edits are overwritten by `hostalias up`.\n' },
    wantsLink: '/etc/systemd/system/hostalias.service',
  };
  const uninstall = planPersistence(null, { ...T, kind: 'systemd' }, installed);
  assert.equal(
    renderPlan(uninstall, { rooted: false, root: '/' }),
    [
      '$ rm -f /etc/systemd/system/multi-user.target.wants/hostalias.service',
      '$ rm -f /etc/systemd/system/hostalias.service',
      '$ systemctl daemon-reload',
    ].join('\n'),
  );
});

test('NetworkManager older than 1.42 is refused (no loopback profiles); 1.42+ and unknown are accepted', () => {
  for (const old of ['1.36.6', '1.40.18']) {
    assert.throws(
      () => planPersistence({ ...T, kind: 'networkmanager' }, null, { ...LIVE, nmVersion: old }),
      (err: unknown) =>
        err instanceof HostaliasError &&
        err.code === 'unsupported' &&
        err.message.includes(old) &&
        err.message.includes('1.42') &&
        err.fix === 'use --persist systemd instead',
    );
  }
  for (const fine of ['1.42.0', '1.46.0', '2.0.1', null]) {
    const plan = planPersistence({ ...T, kind: 'networkmanager' }, null, { ...LIVE, nmVersion: fine });
    assert.ok(
      plan.steps.some((s) => s.kind === 'write' && s.path.endsWith('hostalias-lo.nmconnection')),
      String(fine),
    );
  }
});

test('after an up that was moving the alias and the persistence was interrupted, the next up (another ip, a third kind) removes what both sides installed', async (t) => {
  const { root, ip, ctx } = await debianHost(t);
  await up(ctx, { persist: 'systemd', ip: '10.254.254.7' });
  const before = await loadState(ctx.fs);
  assert.ok(before);
  // `up --ip 10.254.254.8 --persist ifupdown`, killed right after its first step (the new alias):
  // its record is on disk, the state is still the old one, the systemd unit still there.
  const next: State = {
    ...before,
    desired: { ...before.desired, ip: '10.254.254.8', persist: 'ifupdown' },
    persistence: { kind: 'ifupdown', reason: 'asked for', ip: '10.254.254.8', label: 'lo:hostalias' },
  };
  await saveIntent(ctx.fs, {
    version: 1,
    label: 'up',
    startedAt: '2026-01-01T00:00:00.000Z',
    pid: 1,
    previous: before,
    next,
    dirs: ['/etc/network'],
    steps: [],
  });
  await ctx.runner.run(['ip', 'addr', 'replace', '10.254.254.8/32', 'dev', 'lo', 'label', 'lo:hostalias']);

  const preview = await up(ctx, { ip: '10.254.254.9', persist: 'networkd' }, { dryRun: true });
  const shown = renderPlan(preview.plan, UNRENDERED);
  for (const line of ['$ ip addr del 10.254.254.8/32 dev lo', '$ ip addr del 10.254.254.7/32 dev lo', '$ rm -f /etc/systemd/system/hostalias.service'])
    assert.ok(shown.includes(line), `the preview shows ${line}`);
  assert.match(preview.plan.notes[0]?.text ?? '', /was interrupted: this run finishes or undoes it, and removes what 1 earlier configuration\(s\) installed/);

  const res = await up(ctx, { ip: '10.254.254.9', persist: 'networkd' });
  assert.equal(res.applied, true);
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo', '10.254.254.9/32 lo:hostalias'], "neither side's alias is left");
  const tree = await readTree(root);
  assert.deepEqual(
    Object.keys(tree).filter((p) => /systemd\/system|backups\/etc_network|intent/.test(p)),
    [],
    'no systemd unit, no ifupdown backup, no record',
  );
  assert.equal(tree['/etc/network/interfaces'], DEBIAN_INTERFACES);
  assert.match(tree['/etc/systemd/network/10-hostalias-lo.network'] ?? '', /Address=10\.254\.254\.9\/32/);
  assert.equal((await loadState(ctx.fs))?.desired.ip, '10.254.254.9');
  assert.deepEqual((await up(ctx, {})).plan.steps, [], 'converged');
});

test('down after a recovery was itself interrupted: the states the record still lists (also) are removed too', async (t) => {
  const { root, ip, ctx } = await debianHost(t);
  await up(ctx, { persist: 'networkd', ip: '10.254.254.6' });
  const networkd = await loadState(ctx.fs);
  const networkdFile = (await readTree(root))['/etc/systemd/network/10-hostalias-lo.network'];
  await up(ctx, { persist: 'systemd', ip: '10.254.254.7' });
  const systemd = await loadState(ctx.fs);
  assert.ok(networkd && systemd && networkdFile);
  // What a recovery killed mid-way leaves: networkd's file and alias still there, known only from `also`.
  await ctx.fs.write('/etc/systemd/network/10-hostalias-lo.network', networkdFile, 0o644);
  await ctx.runner.run(['ip', 'addr', 'replace', '10.254.254.6/32', 'dev', 'lo', 'label', 'lo:hostalias']);
  await saveIntent(ctx.fs, {
    version: 1,
    label: 'up',
    startedAt: '2026-01-01T00:00:00.000Z',
    pid: 1,
    previous: systemd,
    next: systemd,
    also: [networkd],
    dirs: [],
    steps: [],
  });

  const res = await down(ctx);
  assert.match(res.plan.notes.map((n) => n.text).join('\n'), /was interrupted/);
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo']);
  assert.deepEqual(Object.keys(await readTree(root)).sort(), ['/etc/hosts', '/etc/network/interfaces', '/usr/sbin/ip', '/var/lib/hostalias/journal.log']);
});
