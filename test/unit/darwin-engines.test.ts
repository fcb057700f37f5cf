import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../../src/model/context.js';
import { up } from '../../src/engine/converge.js';
import { runChecks } from '../../src/doctor/run-checks.js';
import { doctorInput } from '../../src/engine/inputs.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { colimaRoute, limaRoute } from '../../src/platform/darwin/engines.js';
import { dockerEngine, FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

// Each engine's own advice in doctor, from how each product routes a container's connection to
// the alias. Lima gives the VM's default route to the lowest-metric network: the user-mode one
// (eth0) has 200 (pkg/cidata/cidata.go), a `networks:` entry 100 by default (pkg/limayaml/
// defaults.go). Colima's col0 has 300 with --network-address, 100 with --network-preferred-route
// (limautil/network.go, environment/vm/lima/yaml.go). Through the user-mode network the host agent
// dials from the Mac (gvisor-tap-vsock forwarder/tcp.go: net.Dial), so the alias is reached over lo0.

test('colima.yaml: only preferredRoute takes the default route away from user-v2; lima.yaml: a network under metric 200 does', () => {
  assert.equal(colimaRoute(fixture('colima-default.yaml'))?.bridged, false);
  const address = colimaRoute(fixture('colima-network-address.yaml'));
  assert.equal(address?.bridged, false, '--network-address alone: col0 has metric 300, user-v2 200');
  assert.match(address?.why ?? '', /metric 300/);
  const preferred = colimaRoute(fixture('colima-preferred-route.yaml'));
  assert.equal(preferred?.bridged, true);
  assert.match(preferred?.why ?? '', /metric 100, below user-v2's 200/);
  assert.equal(colimaRoute('not: [yaml'), null);

  assert.equal(limaRoute('vmType: vz\n')?.bridged, false);
  assert.equal(limaRoute(fixture('lima-vznat.yaml'))?.bridged, true, 'a vzNAT network gets metric 100');
  assert.equal(limaRoute('networks:\n- vzNAT: true\n  metric: 300\n')?.bridged, false);
});

async function colimaMac(t: TestContext, config: string | null, rest = 'ifconfig-a-rest-vmnet.txt'): Promise<{ ctx: Context; mac: FakeMac }> {
  const home = await mkdtemp(join(tmpdir(), 'hal-colima-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  const profile = join(home, '.colima', 'default');
  await mkdir(profile, { recursive: true });
  if (config !== null) await writeFile(join(profile, 'colima.yaml'), fixture(config));
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  m.rest = fixture(rest);
  m.engine = dockerEngine('colima');
  // Colima keeps docker.sock in the profile folder, beside colima.yaml (config/profile.go ConfigDir).
  const ctx: Context = { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: { HOME: home, DOCKER_HOST: `unix://${profile}/docker.sock` } };
  return { ctx, mac: m };
}

const engineFindings = async (ctx: Context) => (await runChecks(await doctorInput(ctx))).filter((f) => f.id === 'engine');

test('Colima: no bridge advice with --network-address alone (user-v2 keeps the route); with preferredRoute, trust the bridge vmnet made', async (t) => {
  for (const config of ['colima-default.yaml', 'colima-network-address.yaml']) {
    const { ctx } = await colimaMac(t, config);
    await up(ctx, {});
    const found = await engineFindings(ctx);
    assert.deepEqual(
      found.map((f) => f.status),
      ['ok'],
      `${config}: ${JSON.stringify(found)}`,
    );
    assert.match(found[0]?.message ?? '', /user-mode network, whose host agent connects from this Mac over lo0/);
    assert.doesNotMatch(found[0]?.message ?? '', /allow-iface/);
  }

  const { ctx } = await colimaMac(t, 'colima-preferred-route.yaml');
  await up(ctx, {});
  const found = await engineFindings(ctx);
  assert.equal(found[0]?.status, 'warn', JSON.stringify(found));
  assert.match(found[0]?.message ?? '', /network\.preferredRoute is on/);
  assert.match(found[0]?.message ?? '', /arrives on bridge100, not lo0/);
  assert.equal(found[0]?.fix, 'hostalias up --allow-iface bridge100');
  await up(ctx, { allowIfaces: ['bridge100'] });
  assert.deepEqual(
    (await engineFindings(ctx)).map((f) => f.status),
    ['ok'],
    'trusted: nothing left to say',
  );
});

test('Colima whose configuration can not be read: a conditional note, not a warning', async (t) => {
  const { ctx } = await colimaMac(t, null);
  await up(ctx, {});
  const found = await engineFindings(ctx);
  assert.deepEqual(
    found.map((f) => f.status),
    ['ok'],
  );
  assert.match(found[0]?.message ?? '', /unless `colima start --network-preferred-route`/);
});

test('Podman machine gets its own text (gvproxy dials from the Mac); Rancher Desktop is told to trust its VM bridge (vzNAT or socket_vmnet, metric 100)', async (t) => {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  m.rest = fixture('ifconfig-a-rest-vmnet.txt');
  const ctx: Context = { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} };
  await up(ctx, {});
  m.engine = dockerEngine('podman-machine');
  const podman = await engineFindings(ctx);
  assert.deepEqual(
    podman.map((f) => f.status),
    ['ok'],
  );
  assert.match(podman[0]?.message ?? '', /gvproxy .* opens them from the Mac itself, so they reach 10\.254\.254\.254 over lo0/);

  m.engine = dockerEngine('rancher');
  const rancher = await engineFindings(ctx);
  assert.equal(rancher[0]?.status, 'warn');
  assert.match(rancher[0]?.message ?? '', /vzNAT network \(VZ\) or socket_vmnet networks/);
  assert.equal(rancher[0]?.fix, 'hostalias up --allow-iface bridge100');
});
