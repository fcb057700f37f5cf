import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applySteps } from '../../src/engine/apply.js';
import { HostaliasError } from '../../src/model/errors.js';
import type { Step } from '../../src/model/steps.js';
import { fail } from '../support/fake-runner.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, readTree, rootedContext } from '../support/rooted.js';

const ADD: Step = {
  kind: 'run',
  argv: ['ip', 'addr', 'replace', '10.254.254.254/32', 'dev', 'lo', 'label', 'lo:hostalias'],
  undo: ['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo'],
  why: 'add the alias 10.254.254.254/32 to lo',
};

test('a failing late step undoes the earlier ones, in reverse, and the error says so', async (t) => {
  const root = await makeRoot(t, { '/etc/hosts': '127.0.0.1 localhost\n' });
  const ip = new FakeIp();
  ip.runner.on(['systemctl', 'enable', 'hostalias.service'], fail('Failed to enable unit: Unit file hostalias.service does not exist.'));
  const ctx = rootedContext(ip.runner, root);
  const steps: Step[] = [
    ADD,
    { kind: 'write', path: '/etc/systemd/system/hostalias.service', content: '[Unit]\n', mode: 0o644, before: null, why: 'persist the alias' },
    {
      kind: 'write',
      path: '/etc/hosts',
      content: '127.0.0.1 localhost\n10.254.254.254 local_host\n',
      mode: 0o644,
      before: '127.0.0.1 localhost\n',
      why: 'name the alias in /etc/hosts',
    },
    { kind: 'symlink', path: '/etc/systemd/system/multi-user.target.wants/hostalias.service', target: '/etc/systemd/system/hostalias.service', why: 'enable' },
    { kind: 'run', argv: ['systemctl', 'enable', 'hostalias.service'], why: 'enable the unit' },
  ];
  await assert.rejects(applySteps(ctx, steps, 'up'), (err: unknown) => {
    assert.ok(err instanceof HostaliasError);
    assert.equal(err.code, 'failed');
    assert.match(err.message, /^enable the unit: `systemctl enable hostalias\.service` failed: Failed to enable unit/);
    assert.match(err.message, /the 4 earlier change\(s\) were rolled back$/);
    return true;
  });
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo'], 'the alias was removed again');
  const { ['/var/lib/hostalias/journal.log']: journal, ...files } = await readTree(root);
  assert.deepEqual(files, { '/etc/hosts': '127.0.0.1 localhost\n' }, 'files restored, created ones removed');
  const lines = (journal ?? '')
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\S+ /, ''));
  assert.deepEqual(lines, [
    'up: begin: 5 step(s)',
    'up: done ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
    'up: done write /etc/systemd/system/hostalias.service',
    'up: done write /etc/hosts',
    'up: done link /etc/systemd/system/multi-user.target.wants/hostalias.service -> /etc/systemd/system/hostalias.service',
    'up: FAILED systemctl enable hostalias.service: enable the unit: `systemctl enable hostalias.service` failed: Failed to enable unit: Unit file hostalias.service does not exist.',
    'up: rolled back: unlink /etc/systemd/system/multi-user.target.wants/hostalias.service',
    'up: rolled back: restore /etc/hosts',
    'up: rolled back: restore /etc/systemd/system/hostalias.service',
    'up: rolled back: ip addr del 10.254.254.254/32 dev lo',
  ]);
});

test('a failing first step says nothing had been changed', async (t) => {
  const root = await makeRoot(t);
  const step: Step = { kind: 'run', argv: ['ip', 'addr', 'replace', '10.0.0.9/32', 'dev', 'lo', 'label', 'lo:x'], why: 'adding 10.0.0.9/32 to lo' };
  await assert.rejects(applySteps(rootedContext(failingRunner(), root), [step], 'up'), (err: unknown) => {
    assert.ok(err instanceof HostaliasError);
    assert.equal(err.code, 'permission', 'EPERM maps to the permission exit code');
    assert.match(err.message, /^adding 10\.0\.0\.9\/32 to lo: RTNETLINK answers: Operation not permitted — nothing had been changed yet$/);
    assert.equal(err.fix, 'run it again with sudo');
    return true;
  });
});

function failingRunner() {
  return { run: async () => fail('RTNETLINK answers: Operation not permitted', 2) };
}

test('service steps are skipped under --root and journaled as skipped', async (t) => {
  const root = await makeRoot(t);
  const ip = new FakeIp();
  const res = await applySteps(rootedContext(ip.runner, root), [{ kind: 'run', argv: ['systemctl', 'daemon-reload'], service: true, why: 'reload' }], 'up');
  assert.equal(res.skipped.length, 1);
  assert.deepEqual(ip.runner.calls, []);
  assert.match((await readTree(root))['/var/lib/hostalias/journal.log'] ?? '', /up: skipped \(files under a folder\) systemctl daemon-reload/);
});

test('teardown (down) tries every step, rolls nothing back, and reports all failures together', async (t) => {
  const root = await makeRoot(t, { '/etc/systemd/system/hostalias.service': '[Unit]\n', '/etc/hosts': '127.0.0.1 localhost\n' });
  const ip = new FakeIp();
  ip.runner.on(['systemctl', 'daemon-reload'], fail('Failed to connect to bus: No such file or directory'));
  ip.runner.on(['nft', 'delete', 'table', 'inet', 'hostalias'], fail('Error: No such file or directory'));
  const ctx = rootedContext(ip.runner, root);
  const steps: Step[] = [
    { kind: 'remove', path: '/etc/systemd/system/hostalias.service', before: '[Unit]\n', why: 'remove the unit' },
    { kind: 'run', argv: ['systemctl', 'daemon-reload'], why: 'make systemd forget the unit' },
    { kind: 'run', argv: ['nft', 'delete', 'table', 'inet', 'hostalias'], why: 'delete the table' },
    { kind: 'write', path: '/etc/hosts', content: '127.0.0.1 localhost\n# x\n', mode: 0o644, before: '127.0.0.1 localhost\n', why: 'edit hosts' },
  ];
  await assert.rejects(applySteps(ctx, steps, 'down', { teardown: true }), (err: unknown) => {
    assert.ok(err instanceof HostaliasError);
    assert.equal(err.code, 'failed');
    assert.match(
      err.message,
      /^2 step\(s\) failed \(2 others were done\): make systemd forget the unit: .*Failed to connect to bus.*; delete the table: .*No such file/,
    );
    return true;
  });
  const { ['/var/lib/hostalias/journal.log']: _journal, ...files } = await readTree(root);
  assert.deepEqual(files, { '/etc/hosts': '127.0.0.1 localhost\n# x\n' }, 'the steps after the failures ran, and nothing was rolled back');
});
