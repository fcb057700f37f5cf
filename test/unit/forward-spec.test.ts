/**
 * Pure parts of `hostalias forward`: argument parsing and the service planner
 * (observed units × desired forwards → steps, as shell text), including idempotence and `down`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { applySteps } from '../../src/engine/apply.js';
import { defaultContext } from '../../src/engine/context.js';
import type { ForwardSpec } from '../../src/model/config.js';
import { HostaliasError } from '../../src/model/errors.js';
import { observeForwardServices } from '../../src/platform/linux/forward-units-part.js';
import { forwardUnit, planForwardServices, type ForwardServicesObserved } from '../../src/platform/linux/forward-units.js';
import { loopbackTargets } from '../../src/forward/targets.js';
import { checkNoLoop, describeTargets, FORWARD_EXAMPLE, normalizeTarget, parseEndpoint, parseTargets, targetsOf, unitName } from '../../src/forward/spec.js';
import { parsePortProto } from '../../src/model/ports.js';
import { renderPlan } from '../../src/model/steps.js';
import { FakeRunner } from '../support/fake-runner.js';

const RT = { nodePath: '/usr/bin/node', cliPath: '/usr/lib/node_modules/hostalias/dist/cli/main.js' };
const IP = '10.254.254.254';

test('parsePortProto / parseEndpoint: accepted forms', () => {
  assert.deepEqual(parsePortProto('5432', FORWARD_EXAMPLE), { port: 5432, proto: 'tcp' });
  assert.deepEqual(parsePortProto('53/udp', FORWARD_EXAMPLE), { port: 53, proto: 'udp' });
  assert.deepEqual(parsePortProto('80/TCP', FORWARD_EXAMPLE), { port: 80, proto: 'tcp' });
  assert.deepEqual(parseEndpoint('127.0.0.1:6379'), { host: '127.0.0.1', port: 6379 });
  assert.deepEqual(parseEndpoint('[::1]:5432'), { host: '::1', port: 5432 });
  assert.deepEqual(parseEndpoint('8080'), { host: '127.0.0.1', port: 8080 });
  // No --to, or a bare port: the loopback in either family, as a local client of localhost connects.
  assert.deepEqual(targetsOf({ port: 5432, targets: [] }), [
    { host: '127.0.0.1', port: 5432 },
    { host: '::1', port: 5432 },
  ]);
  assert.deepEqual(parseTargets(5173, []), { targets: loopbackTargets(5173), order: 'sticky' });
  assert.deepEqual(parseTargets(5173, ['5174']), { targets: loopbackTargets(5174), order: 'sticky' });
  assert.deepEqual(parseTargets(5173, ['[::1]:5173', '127.0.0.1:9']), {
    targets: [
      { host: '::1', port: 5173 },
      { host: '127.0.0.1', port: 9 },
    ],
    order: 'round-robin',
  });
  assert.equal(normalizeTarget(' 5174 '), '5174');
  assert.equal(normalizeTarget('[0:0::1]:80'), '[0:0::1]:80');
  assert.equal(describeTargets(loopbackTargets(80)), '127.0.0.1:80 or [::1]:80');
});

test('bad input is a usage error that names the fix', () => {
  for (const bad of ['0', '65536', 'abc', '80/sctp', '', '12/']) {
    assert.throws(
      () => parsePortProto(bad, FORWARD_EXAMPLE),
      (e: unknown) => e instanceof HostaliasError && e.code === 'usage' && !!e.fix,
      bad,
    );
  }
  for (const bad of ['localhost:80', '127.0.0.1', '127.0.0.1:0', ':80', '1.2.3.4:x']) {
    assert.throws(
      () => parseEndpoint(bad),
      (e: unknown) => e instanceof HostaliasError && e.code === 'usage',
      bad,
    );
  }
  assert.throws(() => checkNoLoop({ host: '127.0.0.1', port: 80 }, [{ host: '127.0.0.1', port: 80 }]), /to itself/);
  assert.throws(() => checkNoLoop({ host: '0.0.0.0', port: 80 }, [{ host: '127.0.0.1', port: 80 }]), /to itself/);
  checkNoLoop({ host: IP, port: 80 }, [{ host: '127.0.0.1', port: 80 }]);
});

const pg: ForwardSpec = { port: 5432, proto: 'tcp', targets: [] };
const dns: ForwardSpec = { port: 53, proto: 'udp', targets: ['127.0.0.53:53'], workers: 1 };

function observed(units: Record<string, string> = {}, linked: string[] = [], systemdRunning = true): ForwardServicesObserved {
  const wants: Record<string, string | null> = {};
  for (const n of [...Object.keys(units), ...linked]) wants[n] = linked.includes(n) ? `/etc/systemd/system/${n}` : null;
  return { units, wants, systemdRunning };
}

test('planForwardServices: table of (observed, desired) → steps', () => {
  const cases: Array<{ name: string; desired: ForwardSpec[] | null; obs: ForwardServicesObserved; want: string[] }> = [
    {
      name: 'install one on a live systemd',
      desired: [pg],
      obs: observed(),
      want: [
        '# write /etc/systemd/system/hostalias-forward-5432-tcp.service (mode 0644)',
        '$ ln -sf /etc/systemd/system/hostalias-forward-5432-tcp.service /etc/systemd/system/multi-user.target.wants/hostalias-forward-5432-tcp.service',
        '$ systemctl daemon-reload',
        '$ systemctl restart hostalias-forward-5432-tcp.service',
      ],
    },
    {
      name: 'already installed: nothing to do',
      desired: [pg],
      obs: observed({ 'hostalias-forward-5432-tcp.service': forwardUnit(pg, IP, RT) }, ['hostalias-forward-5432-tcp.service']),
      want: [],
    },
    {
      name: 'down: stop, disable, remove, reload',
      desired: null,
      obs: observed({ 'hostalias-forward-5432-tcp.service': forwardUnit(pg, IP, RT) }, ['hostalias-forward-5432-tcp.service']),
      want: [
        '$ systemctl stop hostalias-forward-5432-tcp.service',
        '$ rm -f /etc/systemd/system/multi-user.target.wants/hostalias-forward-5432-tcp.service',
        '$ rm -f /etc/systemd/system/hostalias-forward-5432-tcp.service',
        '$ systemctl daemon-reload',
      ],
    },
    {
      name: 'no systemd running: files only',
      desired: [dns],
      obs: observed({}, [], false),
      want: [
        '# write /etc/systemd/system/hostalias-forward-53-udp.service (mode 0644)',
        '$ ln -sf /etc/systemd/system/hostalias-forward-53-udp.service /etc/systemd/system/multi-user.target.wants/hostalias-forward-53-udp.service',
      ],
    },
  ];
  for (const c of cases) {
    const plan = planForwardServices(c.desired ? { ip: IP, forwards: c.desired } : null, c.obs, RT);
    const lines = renderPlan(plan, { rooted: false, root: '/' })
      .split('\n')
      .filter((l) => l.startsWith('$ ') || l.startsWith('# write'));
    assert.deepEqual(lines, c.want, c.name);
  }
});

test('forwardUnit: ExecStart runs the installed CLI with the alias as listen address', () => {
  const unit = forwardUnit(dns, IP, RT);
  assert.match(
    unit,
    /^ExecStart=\/usr\/bin\/node \/usr\/lib\/node_modules\/hostalias\/dist\/cli\/main\.js forward 53\/udp --listen 10\.254\.254\.254 --to 127\.0\.0\.53:53 --workers 1$/m,
  );
  assert.match(unit, /^Restart=on-failure$/m);
  assert.equal(unitName(dns), 'hostalias-forward-53-udp.service');
  assert.match(forwardUnit(pg, IP, { nodePath: '/opt/my node/bin/node', cliPath: '/x/main.js' }), /^ExecStart="\/opt\/my node\/bin\/node" \/x\/main\.js/m);
});

test('forwardUnit: the relay options given are in ExecStart; changing them rewrites and restarts the unit', () => {
  const tuned: ForwardSpec = { ...pg, workers: 2, maxConnections: 100, connectTimeoutMs: 900 };
  assert.match(
    forwardUnit(tuned, IP, RT),
    /^ExecStart=.* forward 5432\/tcp --listen 10\.254\.254\.254 --workers 2 --connect-timeout 900 --max-connections 100$/m,
  );
  assert.match(
    forwardUnit({ ...dns, maxSessions: 10, idleTimeoutS: 5, graceS: 3 }, IP, RT),
    / --to 127\.0\.0\.53:53 --workers 1 --idle-timeout 5 --max-sessions 10 --grace 3$/m,
  );
  const name = unitName(pg);
  const obs = observed({ [name]: forwardUnit(tuned, IP, RT) }, [name]);
  assert.deepEqual(planForwardServices({ ip: IP, forwards: [tuned] }, obs, RT).steps, [], 'the same options: converged');
  const plan = planForwardServices({ ip: IP, forwards: [{ ...tuned, maxConnections: 5 }] }, obs, RT);
  const lines = renderPlan(plan, { rooted: false, root: '/' })
    .split('\n')
    .filter((l) => l.startsWith('$ ') || l.startsWith('# write'));
  assert.deepEqual(lines, [`# write /etc/systemd/system/${name} (mode 0644)`, '$ systemctl daemon-reload', `$ systemctl restart ${name}`]);
});

test('apply under --root, then plan again: no steps; down removes every unit', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'hostalias-fwd-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const ctx = { ...defaultContext({ root, runner: new FakeRunner() }) };
  const target = { ip: IP, forwards: [pg, dns] };
  const first = planForwardServices(target, await observeForwardServices(ctx, [unitName(pg), unitName(dns)]), RT);
  assert.equal(first.steps.length, 4, 'two units, two links; no service calls under --root');
  await applySteps(ctx, first.steps, 'test');
  const again = planForwardServices(target, await observeForwardServices(ctx, [unitName(pg), unitName(dns)]), RT);
  assert.deepEqual(again.steps, []);
  // Dropping one forward removes just that unit.
  const fewer = planForwardServices({ ip: IP, forwards: [pg] }, await observeForwardServices(ctx, [unitName(pg)]), RT);
  assert.deepEqual(
    fewer.steps.map((s) => `${s.kind} ${'path' in s ? s.path : ''}`),
    ['remove /etc/systemd/system/multi-user.target.wants/hostalias-forward-53-udp.service', 'remove /etc/systemd/system/hostalias-forward-53-udp.service'],
  );
  const down = planForwardServices(null, await observeForwardServices(ctx, []), RT);
  await applySteps(ctx, down.steps, 'test');
  assert.deepEqual(await ctx.fs.list('/etc/systemd/system/multi-user.target.wants'), []);
  assert.deepEqual(
    (await ctx.fs.list('/etc/systemd/system')).filter((n) => n.startsWith('hostalias-forward')),
    [],
  );
});
