import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_PROBE_TIMEOUT_MS, parseDockerdVersion, parseEngine, probeEngine } from '../../src/docker/engine.js';
import { bridgeIfaces, parseBridges } from '../../src/docker/networks.js';
import { FakeRunner } from '../support/fake-runner.js';
import { dockerFixture, ENGINE_DOWN, onDocker } from '../support/fake-docker.js';

const answers = (version: string, info: string, context = 'default') => ({ version: dockerFixture(version), info: dockerFixture(info), context });

test('engine probe: the lab engine (real docker JSON) is a rootful Docker Engine with its three bridges', async () => {
  const runner = onDocker(new FakeRunner());
  const probe = await probeEngine(runner);
  assert.deepEqual(probe, {
    reachable: true,
    serverVersion: '20.10.24+dfsg1',
    clientVersion: '28.2.2',
    os: 'Debian GNU/Linux 12 (bookworm)',
    rootless: false,
    flavour: 'engine',
    flavourReason: 'docker info reports "Debian GNU/Linux 12 (bookworm)"',
    bridges: [
      { name: 'bridge', iface: 'docker0', subnets: ['172.17.0.0/16'], gateways: [] },
      { name: 'labnet', iface: 'br-d7c6ac0bf948', subnets: ['172.18.0.0/16'], gateways: ['172.18.0.1'] },
      { name: 'named', iface: 'mybr0', subnets: ['172.19.0.0/16'], gateways: ['172.19.0.1'] },
    ],
  });
  assert.ok(!runner.lines.includes('dockerd --version'), 'a running engine is not asked twice');
});

test('engine probe: every docker call is bounded by the probe timeout', async () => {
  const seen: Array<number | undefined> = [];
  const runner = onDocker(new FakeRunner());
  const bounded = {
    run: (argv: readonly string[], opts?: { timeoutMs?: number }) => {
      seen.push(opts?.timeoutMs);
      return runner.run(argv, opts);
    },
  };
  await probeEngine(bounded);
  assert.equal(seen.length, 5);
  assert.ok(
    seen.every((t) => t === ENGINE_PROBE_TIMEOUT_MS && t <= 10_000),
    String(seen),
  );
});

test('engine probe: Docker Desktop, OrbStack, Colima, Podman and rootless, each by what the engine reports', () => {
  const cases: Array<[string, ReturnType<typeof answers>, string, RegExp]> = [
    ['Desktop by Server.Platform.Name', answers('version-desktop.json', 'info-engine-20.10.json'), 'desktop', /platform "Docker Desktop 4\.19\.0/],
    ['Desktop by docker info', answers('version-engine-20.10.json', 'info-desktop.json'), 'desktop', /docker info reports "Docker Desktop"/],
    [
      'Desktop by the context name',
      { ...answers('version-engine-20.10.json', 'info-engine-20.10.json'), context: 'desktop-linux\n' },
      'desktop',
      /context is "desktop-linux"/,
    ],
    ['OrbStack by docker info', answers('version-engine-20.10.json', 'info-orbstack.json'), 'orbstack', /docker info reports "OrbStack"/],
    [
      'OrbStack by the context name',
      { ...answers('version-engine-20.10.json', 'info-engine-20.10.json'), context: 'orbstack' },
      'orbstack',
      /context is "orbstack"/,
    ],
    ['Colima by the context name', { ...answers('version-engine-20.10.json', 'info-engine-20.10.json'), context: 'colima' }, 'colima', /context is "colima"/],
    ['Colima by the VM hostname', answers('version-engine-20.10.json', 'info-colima.json'), 'colima', /names the host "colima"/],
    ['Podman by its component', answers('version-podman.json', 'info-engine-20.10.json'), 'podman', /component "Podman Engine"/],
    ['Rancher Desktop by the VM hostname', answers('version-engine-20.10.json', 'info-rancher.json'), 'rancher', /names the host "lima-rancher-desktop"/],
    [
      'Rancher Desktop by the context name',
      { ...answers('version-engine-20.10.json', 'info-engine-20.10.json'), context: 'rancher-desktop' },
      'rancher',
      /context is "rancher-desktop"/,
    ],
    ['Lima by the VM hostname', answers('version-engine-20.10.json', 'info-lima.json'), 'lima', /names the host "lima-docker"/],
    [
      'Lima by the context name',
      { ...answers('version-engine-20.10.json', 'info-engine-20.10.json'), context: 'lima-docker' },
      'lima',
      /context is "lima-docker"/,
    ],
  ];
  for (const [what, a, flavour, why] of cases) {
    const facts = parseEngine(a);
    assert.equal(facts.flavour, flavour, what);
    assert.match(facts.flavourReason, why, what);
  }
  // Negative control: the plain engine under the default context is none of them.
  assert.equal(parseEngine(answers('version-engine-20.10.json', 'info-engine-20.10.json')).flavour, 'engine');
  assert.equal(parseEngine(answers('version-engine-20.10.json', 'info-rootless.json')).rootless, true);
  assert.equal(parseEngine(answers('version-engine-20.10.json', 'info-engine-20.10.json')).rootless, false);
  assert.equal(parseEngine(answers('version-podman.json', 'info-engine-20.10.json')).serverVersion, '3.2.3');
  // A failed `docker info` (empty answer) still gives the version.
  assert.deepEqual(parseEngine({ version: dockerFixture('version-desktop.json'), info: '', context: '' }).flavour, 'desktop');
});

test('engine probe: an engine that does not answer is a result, with the installed dockerd when there is one', async () => {
  const down = await probeEngine(onDocker(new FakeRunner(), { version: ENGINE_DOWN, dockerd: dockerFixture('dockerd-version.txt') }));
  assert.equal(down.reachable, false);
  assert.ok(!down.reachable && !down.cliMissing && /Cannot connect to the Docker daemon/.test(down.error));
  assert.deepEqual(!down.reachable && down.installed, {
    version: '20.10.24+dfsg1',
    source:
      'dockerd --version: 20.10.24+dfsg1 (the engine did not answer: Cannot connect to the Docker daemon at unix:///tmp/hl-cap/none.sock. Is the docker daemon running?)',
  });
  const missing = await probeEngine(onDocker(new FakeRunner(), { version: { code: 127, stdout: '', stderr: 'docker: command not found' } }));
  assert.deepEqual(missing, { reachable: false, cliMissing: true, error: 'the docker CLI is not installed', installed: null });
  const hung = await probeEngine(onDocker(new FakeRunner(), { version: { code: 128, stdout: '', stderr: '', timedOut: true } }));
  assert.ok(
    !hung.reachable && hung.error === `\`docker version --format {{json .}}\` got no answer within ${ENGINE_PROBE_TIMEOUT_MS / 1000} s`,
    JSON.stringify(hung),
  );
});

test('bridges: names come from Docker (option, docker0, br-<id12>), not a br-* pattern; non-bridge networks are left out', () => {
  const nets = parseBridges(dockerFixture('network-inspect-bridges.json'));
  assert.deepEqual(bridgeIfaces(nets), ['br-d7c6ac0bf948', 'docker0', 'mybr0']);
  const mixed = parseBridges(
    '[{"Name":"host","Id":"ffff","Driver":"host"},{"Name":"labnet","Id":"0123456789abcdef","Driver":"bridge","Options":{},"IPAM":{"Config":null}}]',
  );
  assert.deepEqual(mixed, [{ name: 'labnet', iface: 'br-0123456789ab', subnets: [], gateways: [] }]);
  assert.equal(parseDockerdVersion(dockerFixture('dockerd-version.txt')), '20.10.24+dfsg1');
  assert.equal(parseDockerdVersion('dockerd: unknown'), null);
});
