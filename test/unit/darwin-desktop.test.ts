import { linuxBackend } from '../../src/platform/linux/backend.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDesired } from '../../src/model/config.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { checkAliasThroughDesktop, describeDockerDesktop, desktopProbeArgv, dockerDesktopCheck } from '../../src/doctor/check-docker-desktop.js';
import { wslCheck } from '../../src/platform/linux/wsl.js';
import { FakeRunner, fail, ok } from '../support/fake-runner.js';
import { onDocker } from '../support/fake-docker.js';
import { probeEngine } from '../../src/docker/engine.js';
import { fixCommandFor } from '../../src/model/invocation.js';
import { makeRoot } from '../support/rooted.js';

const IP = '10.254.254.254';

function desktopEngine(runner: FakeRunner): FakeRunner {
  return onDocker(runner, { version: 'version-desktop.json', info: 'info-desktop.json', context: 'desktop-linux' });
}

test('describeDockerDesktop explains vpnkit, host.docker.internal, the refusal and expose', () => {
  const text = describeDockerDesktop(IP).join('\n');
  for (const want of [/vpnkit/, /host\.docker\.internal/, /--docker-daemon is refused/, /hostalias expose/, /10\.254\.254\.254 on lo0/])
    assert.match(text, want);
});

test('the alias is reachable through Desktop when the probe container connects', async () => {
  const runner = desktopEngine(new FakeRunner()).on(desktopProbeArgv(IP, 5432), ok());
  assert.deepEqual(await checkAliasThroughDesktop(runner, IP, 5432), {
    desktop: true,
    reachable: true,
    detail: `a container connected to ${IP}:5432 through Docker Desktop (docker run --rm busybox nc -w 3 -e true ${IP} 5432)`,
  });
});

test('unreachable and unstartable probes are told apart; a non-Desktop engine is not probed', async () => {
  const refused = desktopEngine(new FakeRunner()).on(desktopProbeArgv(IP, 5432), fail("nc: can't connect to remote host (10.254.254.254): Connection refused"));
  const r = await checkAliasThroughDesktop(refused, IP, 5432);
  assert.equal(r.reachable, false);
  assert.match(r.detail, /Connection refused/);
  const noImage = desktopEngine(new FakeRunner()).on(desktopProbeArgv(IP, 5432), fail('Unable to find image', 125));
  assert.equal((await checkAliasThroughDesktop(noImage, IP, 5432)).reachable, null);
  const linuxEngine = onDocker(new FakeRunner());
  const l = await checkAliasThroughDesktop(linuxEngine, IP, 5432);
  assert.equal(l.desktop, false);
  assert.ok(!linuxEngine.lines.some((x) => x.startsWith('docker run')));
});

test('doctor checks: Desktop finding with a failing probe names the fix; WSL finding from env and wsl.conf', async (t) => {
  const root = await makeRoot(t, { '/etc/wsl.conf': '[boot]\nsystemd=false\n' });
  const runner = desktopEngine(new FakeRunner()).on(desktopProbeArgv(IP, 5432), fail('Connection refused'));
  const ctx = { runner, fs: new SystemFs(root), backend: linuxBackend, live: true, isRoot: true, env: { WSL_DISTRO_NAME: 'Ubuntu' } };
  const desired = { ...defaultDesired(), exposes: [{ port: 5432, proto: 'tcp' as const, to: 5432, keepSource: false }] };
  const state = { version: 1 as const, desired, persistence: { kind: 'systemd' as const, reason: 'x', ip: IP, label: 'lo:hostalias' }, updatedAt: '' };
  const input = { ctx, state, desired, engine: () => probeEngine(runner), hostalias: fixCommandFor(ctx) };
  const desktop = await dockerDesktopCheck.run(input);
  assert.deepEqual(
    desktop.map((f) => f.status),
    ['ok', 'fail'],
  );
  assert.match(desktop[1]?.fix ?? '', /docker run --rm busybox nc/);
  const wsl = await wslCheck.run(input);
  assert.ok(wsl.some((f) => f.status === 'warn' && /systemd=true/.test(f.message)));
  assert.ok(wsl.some((f) => /wsl --shutdown/.test(f.message)));
});
