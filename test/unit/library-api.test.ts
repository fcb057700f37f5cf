import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hostalias from '../../src/index.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, rootedContext } from '../support/rooted.js';

test('the library entry runs the same lifecycle as the CLI: plan, up, status, down', async (t) => {
  const root = await makeRoot(t, { '/lib/systemd/systemd': '' });
  const ip = new FakeIp();
  const ctx: hostalias.Context = rootedContext(ip.runner, root);
  const preview = await hostalias.up(ctx, { ip: hostalias.parseAliasIp('10.254.254.253') }, { dryRun: true });
  assert.equal(preview.applied, false);
  assert.match(hostalias.renderPlan(preview.plan, { rooted: false, root: '/' }), /^\$ ip addr replace 10\.254\.254\.253\/32 dev lo label lo:hostalias$/m);
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo'], 'a dry run changes nothing');

  const applied = await hostalias.up(ctx, { ip: '10.254.254.253' });
  assert.equal(applied.state?.persistence?.kind, 'systemd');
  const report = await hostalias.status(ctx);
  assert.equal(report.present, true);
  assert.equal(report.ip, '10.254.254.253');
  assert.deepEqual(report.names, [...hostalias.DEFAULT_NAMES]);

  await hostalias.down(ctx);
  assert.equal((await hostalias.status(ctx)).present, false);
  assert.throws(
    () => hostalias.parseAliasIp('127.0.0.2'),
    (e: unknown) => e instanceof hostalias.HostaliasError && hostalias.EXIT_CODES[e.code] === 2,
  );
});
