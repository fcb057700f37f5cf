import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ExposeSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { up } from '../../src/engine/converge.js';
import { expose } from '../../src/engine/expose.js';
import { runChecks } from '../../src/doctor/run-checks.js';
import { doctorInput } from '../../src/engine/inputs.js';
import { renderPlan } from '../../src/model/steps.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { parsePrintDisabled } from '../../src/platform/darwin/launchd.js';
import { FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

// macOS 13+ lists LaunchDaemons as background items (System Settings → General → Login Items →
// Allow in the Background); one switched off there, like one `launchctl disable`d, is disabled in
// launchd: it is not loaded at boot, and `launchctl bootstrap` refuses it with `119: Service is
// disabled` (DeterminateSystems/nix-installer#530). `launchctl print-disabled system` lists them
// (fixtures and their sources: test/fixtures/darwin/README.md).
const ALIAS = 'dev.hostalias.alias';
const PG: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: false };

async function mac(t: TestContext): Promise<{ ctx: Context; mac: FakeMac }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  m.services.set(5432, () => 'pg');
  return { ctx: { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} }, mac: m };
}

test('print-disabled: both formats, the disabled services block only', () => {
  const ventura = parsePrintDisabled(fixture('launchctl-print-disabled-system.txt'));
  assert.equal(ventura.get('com.openssh.sshd'), true);
  assert.equal(ventura.get('com.apple.smbd'), false);
  const monterey = parsePrintDisabled(fixture('launchctl-print-disabled-system-monterey.txt'));
  assert.equal(monterey.get('com.openssh.sshd'), true);
  assert.equal(monterey.get('com.apple.smbd'), false);
  assert.equal(monterey.has('com.docker.helper'), false, 'login item associations are not services');
});

test('doctor reports a job installed but disabled, naming the fix; up enables it before it bootstraps anything', async (t) => {
  const { ctx, mac: m } = await mac(t);
  await expose(ctx, PG);
  const persistence = async () => (await runChecks(await doctorInput(ctx))).filter((f) => f.id === 'persistence');
  assert.deepEqual(
    (await persistence()).map((f) => f.status),
    ['ok'],
    'negative control: nothing disabled',
  );

  // Switched off in System Settings (the job stays loaded until the next boot).
  m.disabled.add(ALIAS);
  m.disabled.add('dev.hostalias.forward.5432-tcp');
  const found = await persistence();
  for (const label of [ALIAS, 'dev.hostalias.forward.5432-tcp']) {
    const f = found.find((x) => x.message.startsWith(`${label} is installed but disabled in launchd`));
    assert.ok(f, JSON.stringify(found));
    assert.equal(f.status, 'fail');
    assert.match(f.message, /does not run at boot/);
    assert.match(f.message, /Login Items/);
    assert.equal(f.fix, `sudo launchctl enable system/${label}   (or switch it on again under Login Items → Allow in the Background)`);
  }

  const res = await up(ctx, {});
  const lines = renderPlan(res.plan, { rooted: false, root: '/', platform: 'darwin' }).split('\n');
  assert.ok(lines.includes(`$ launchctl enable system/${ALIAS}`), lines.join('\n'));
  assert.deepEqual([...m.disabled], []);
  assert.deepEqual(
    (await persistence()).map((f) => f.status),
    ['ok'],
  );
  assert.deepEqual((await up(ctx, {})).plan.steps, [], 'converged');
});

test('a disabled label blocks bootstrap (119) unless enabled first: a fresh up over an old disable succeeds', async (t) => {
  const { ctx, mac: m } = await mac(t);
  m.disabled.add(ALIAS); // left over from an earlier install (launchd keeps it across bootout and reboots)
  const refused = await m.run(['launchctl', 'bootstrap', 'system', `/Library/LaunchDaemons/${ALIAS}.plist`]);
  assert.equal(refused.code, 5, 'no plist yet: the ordinary failure');
  const before = m.changes.length;
  await up(ctx, {});
  assert.ok(m.loaded.has(ALIAS));
  const order = m.changes.slice(before).filter((l) => l.includes(ALIAS));
  assert.deepEqual(order.slice(0, 2), [`launchctl enable system/${ALIAS}`, `launchctl bootstrap system /Library/LaunchDaemons/${ALIAS}.plist`]);
  // Negative control: the fake refuses the bootstrap of a disabled label as launchd does.
  m.disabled.add(ALIAS);
  await m.run(['launchctl', 'bootout', `system/${ALIAS}`]);
  const again = await m.run(['launchctl', 'bootstrap', 'system', `/Library/LaunchDaemons/${ALIAS}.plist`]);
  assert.equal(again.code, 119);
  assert.match(again.stderr, /Bootstrap failed: 119: Service is disabled/);
});
