import { linuxBackend } from '../../src/platform/linux/backend.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDesired } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { aliasCheck } from '../../src/platform/linux/doctor/check-alias.js';
import { routeConflictCheck } from '../../src/platform/linux/doctor/check-route-conflict.js';
import { dockerCheck } from '../../src/doctor/check-docker.js';
import { doctorInputFor, runChecks } from '../../src/doctor/run-checks.js';
import type { Check, DoctorInput } from '../../src/model/context.js';
import { FakeRunner, fail, ok } from '../support/fake-runner.js';

const LO = (extra = '') => `[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}${extra}]}`;

async function withInput(runner: FakeRunner, fn: (input: DoctorInput) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'hal-doctor-unit-'));
  try {
    const ctx: Context = { runner, fs: new SystemFs(root), backend: linuxBackend, live: true, isRoot: true, env };
    const state = { version: 1 as const, desired: defaultDesired(), persistence: null, updatedAt: '' };
    await fn(doctorInputFor(ctx, state));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('alias check: present /32, missing, wrong prefix', async () => {
  const cases: Array<[string, string, string | undefined]> = [
    [`${LO(',{"family":"inet","local":"10.254.254.254","prefixlen":32,"label":"lo:hostalias"}')}]`, 'ok', undefined],
    [`${LO()}]`, 'fail', 'hostalias up --files-root ROOT'],
    [
      `${LO(',{"family":"inet","local":"10.254.254.254","prefixlen":24}')}]`,
      'fail',
      'sudo ip addr del 10.254.254.254/24 dev lo && hostalias up --files-root ROOT',
    ],
  ];
  for (const [json, status, fix] of cases) {
    await withInput(new FakeRunner().on(['ip', '-j', 'addr', 'show'], ok(json)), async (input) => {
      const [f] = await aliasCheck.run(input);
      assert.equal(f?.status, status, json);
      assert.equal(f?.fix?.replace(input.ctx.fs.root, 'ROOT'), fix);
    });
  }
});

test('route-conflict check: connected subnet fails with a free address; a VPN route warns', async () => {
  const addrs =
    '[{"ifname":"lo","addr_info":[{"family":"inet","local":"10.254.254.254","prefixlen":32}]},{"ifname":"eth1","addr_info":[{"family":"inet","local":"10.254.0.1","prefixlen":16}]}]';
  const runner = new FakeRunner()
    .on(['ip', '-j', 'addr', 'show'], ok(addrs))
    .on(['ip', '-j', 'route', 'show', 'match', '10.254.254.254'], ok('[{"dst":"10.254.0.0/16","dev":"eth1"}]'))
    .on(['ip', '-j', '-4', 'route', 'show', 'table', 'main'], ok('[{"dst":"10.254.0.0/16","dev":"eth1"}]'));
  await withInput(runner, async (input) => {
    const [f] = await routeConflictCheck.run(input);
    assert.equal(f?.status, 'fail');
    assert.match(f?.message ?? '', /inside eth1's connected subnet/);
    assert.equal(f?.fix?.replace(input.ctx.fs.root, 'ROOT'), 'hostalias up --ip 10.253.253.253 --files-root ROOT');
  });
  const vpn = new FakeRunner()
    .on(['ip', '-j', 'addr', 'show'], ok(`${LO()}]`))
    .on(
      ['ip', '-j', 'route', 'show', 'match', '10.254.254.254'],
      ok('[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},{"dst":"10.0.0.0/8","dev":"tun0"}]'),
    )
    .on(['ip', '-j', '-4', 'route', 'show', 'table', 'main'], ok('[{"dst":"10.0.0.0/8","dev":"tun0"}]'));
  await withInput(vpn, async (input) => {
    const [f] = await routeConflictCheck.run(input);
    assert.equal(f?.status, 'warn');
    assert.match(f?.message ?? '', /routed by "10\.0\.0\.0\/8 dev tun0"/);
    assert.match(f?.fix ?? '', /^hostalias up --ip 172\.29\.254\.254 /);
  });
});

test('docker check: unreachable engine fails with the start command; permission denied names the group', async () => {
  const down = new FakeRunner()
    .on(['docker', 'version', '--format', '{{json .}}'], {
      code: 1,
      stdout: '{"Client":{"Version":"28.0.1"},"Server":null}',
      stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    })
    .on(['dockerd', '--version'], ok('Docker version 20.10.24+dfsg1, build 5d6db84\n'));
  await withInput(down, async (input) => {
    const [f] = await dockerCheck.run(input);
    assert.equal(f?.status, 'fail');
    assert.match(f?.fix ?? '', /^sudo (systemctl start docker|service docker start)$/);
  });
  const denied = new FakeRunner()
    .on(
      ['docker', 'version', '--format', '{{json .}}'],
      fail('permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock'),
    )
    .on(['dockerd', '--version'], fail('dockerd: command not found', 127));
  await withInput(denied, async (input) => {
    const [f] = await dockerCheck.run(input);
    assert.match(f?.fix ?? '', /usermod -aG docker/);
  });
  const missing = new FakeRunner()
    .on(['docker', 'version', '--format', '{{json .}}'], { code: 127, stdout: '', stderr: 'docker: command not found' })
    .on(['dockerd', '--version'], fail('dockerd: command not found', 127));
  await withInput(missing, async (input) => assert.match((await dockerCheck.run(input))[0]?.message ?? '', /not installed/));
});

test('runner: checks run concurrently; one that throws becomes a fail finding with its id', async () => {
  const order: string[] = [];
  const slow: Check = {
    id: 'slow',
    run: async () => {
      await new Promise((r) => setTimeout(r, 30));
      order.push('slow');
      return [{ id: 'slow', status: 'ok', message: 'fine' }];
    },
  };
  const boom: Check = {
    id: 'boom',
    run: async () => {
      order.push('boom');
      throw new Error('kaput');
    },
  };
  await withInput(new FakeRunner(), async (input) => {
    const findings = await runChecks(input, [slow, boom]);
    assert.deepEqual(order, ['boom', 'slow']);
    assert.deepEqual(
      findings.map((f) => `${f.id} ${f.status}`),
      ['slow ok', 'boom fail'],
    );
    assert.match(findings[1]?.message ?? '', /the boom check crashed: kaput/);
    assert.ok(findings[1]?.fix);
  });
});
