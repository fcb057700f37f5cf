import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { chooseEngine, describeReach, parsePodmanInfo } from '../../src/docker/engine.js';
import { probeRunArgs } from '../../src/doctor/probe.js';
import { defaultDesired } from '../../src/model/config.js';
import { liveLanSet } from '../../src/platform/linux/doctor/check-firewall.js';

const both = { docker: true, podman: true };

test('chooseEngine: --engine wins; CONTAINER_HOST or a Podman DOCKER_HOST picks podman; else the only one installed, docker when both', () => {
  assert.deepEqual(chooseEngine('podman', both, {}), { cli: 'podman', reason: '--engine podman' });
  assert.equal(chooseEngine('podman', { docker: true, podman: false }, {}), null, 'asked for one that is not installed');
  assert.equal(chooseEngine(undefined, both, { CONTAINER_HOST: 'unix:///run/user/1000/podman/podman.sock' })?.cli, 'podman');
  assert.match(chooseEngine(undefined, both, { DOCKER_HOST: 'unix:///run/user/1000/podman/podman.sock' })?.reason ?? '', /is a Podman socket/);
  assert.equal(chooseEngine(undefined, both, { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })?.cli, 'docker', 'rootless Docker socket: docker');
  assert.deepEqual(chooseEngine(undefined, { docker: false, podman: true }, {}), { cli: 'podman', reason: 'only podman is installed' });
  assert.deepEqual(chooseEngine(undefined, { docker: true, podman: false }, {}), { cli: 'docker', reason: 'only docker is installed' });
  assert.equal(chooseEngine(undefined, both, {})?.cli, 'docker');
  assert.equal(chooseEngine(undefined, { docker: false, podman: false }, {}), null);
});

test('parsePodmanInfo: rootful and rootless Podman 4.3 (podman info --format json, captured in the lab, trimmed)', () => {
  const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/linux/podman-info-${name}.json`, import.meta.url), 'utf8');
  assert.deepEqual(parsePodmanInfo(fixture('rootful')), { version: '4.3.1', rootless: false, networkBackend: 'cni', rootlessNetwork: 'slirp4netns' });
  assert.deepEqual(parsePodmanInfo(fixture('rootless')), { version: '4.3.1', rootless: true, networkBackend: 'cni', rootlessNetwork: 'slirp4netns' });
  // Podman 5 names the command it uses for rootless networking.
  assert.equal(parsePodmanInfo(JSON.stringify({ host: { security: { rootless: true }, rootlessNetworkCmd: 'pasta' } })).rootlessNetwork, 'pasta');
  assert.equal(parsePodmanInfo('not json').version, 'unknown');
});

test('describeReach says what reaches the host in each mode', () => {
  assert.match(describeReach({ rootless: false, cli: 'docker' }), /bridge \(trusted by kind, also networks created later\)/);
  assert.match(describeReach({ rootless: true, cli: 'podman', rootlessNetwork: 'pasta' }), /through pasta, which connects from this host itself \(lo\)/);
  assert.match(describeReach({ rootless: true, cli: 'docker' }), /RootlessKit/);
});

test('doctor --probe --network puts the probe container on that network', () => {
  const args = probeRunArgs('p1', 'busybox', { desired: defaultDesired() }, [5432], 'proj_default');
  assert.deepEqual(args.slice(0, 10), ['run', '--rm', '--name', 'p1', '--label', 'hostalias.doctor=probe', '--pull', 'never', '--network', 'proj_default']);
  assert.ok(!probeRunArgs('p1', 'busybox', { desired: defaultDesired() }, [5432]).includes('--network'));
});

test('liveLanSet reads the LAN bridges out of `nft list table inet hostalias`', () => {
  const listing = readFileSync(new URL('../../../test/fixtures/linux/nft-list-table-hostalias.txt', import.meta.url), 'utf8');
  assert.deepEqual(liveLanSet(listing), ['br-lan']);
  assert.deepEqual(liveLanSet('table inet hostalias {\n\tset lan {\n\t\ttype ifname\n\t}\n}'), []);
});
