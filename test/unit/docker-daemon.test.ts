import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Context } from '../../src/model/context.js';
import { down, planChange, up } from '../../src/engine/converge.js';
import { loadState } from '../../src/engine/state-store.js';
import type { Runner } from '../../src/model/runner.js';
import { dockerDaemonPart } from '../../src/docker/daemon-part.js';
import { chooseGatewayKey, DAEMON_JSON, parseDaemonJson, withGateway, type GatewayKey } from '../../src/docker/daemon-json.js';
import { DAEMON_ABSENT_MARKER, DAEMON_BACKUP, planDaemonJson, type DaemonObserved } from '../../src/docker/daemon-plan.js';
import { HostaliasError } from '../../src/model/errors.js';
import { renderPlan, type Plan } from '../../src/model/steps.js';
import { fail, ok } from '../support/fake-runner.js';
import { FakeIp } from '../support/fake-ip.js';
import { dockerFixture, ENGINE_DOWN } from '../support/fake-docker.js';
import { CORE_PARTS, makeRoot, readTree, rootedContext } from '../support/rooted.js';

const IP = '10.254.254.254';

test('gateway key by engine version (Engine 28+ only in unit tests: the lab dockerd is 20.10)', () => {
  const table: Array<[string, GatewayKey | 'unsupported']> = [
    ['20.10.24+dfsg1', 'host-gateway-ip'],
    ['20.10.0', 'host-gateway-ip'],
    ['24.0.7', 'host-gateway-ip'],
    ['27.5.1', 'host-gateway-ip'],
    ['28.0.0', 'host-gateway-ips'],
    ['28.2.2', 'host-gateway-ips'],
    ['29.0.0-rc.1', 'host-gateway-ips'],
    ['19.03.15', 'unsupported'],
    ['20.9.1', 'unsupported'],
    ['dev', 'unsupported'],
  ];
  for (const [version, want] of table) {
    if (want === 'unsupported')
      assert.throws(
        () => chooseGatewayKey(version),
        (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported',
        version,
      );
    else assert.equal(chooseGatewayKey(version), want, version);
  }
});

test('merge keeps every other key, their order and the indentation', () => {
  assert.equal(withGateway(null, IP, 'host-gateway-ip'), `{\n  "host-gateway-ip": "${IP}"\n}\n`);
  assert.equal(
    withGateway('{\n\t"log-driver": "journald",\n\t"labels": ["a"]\n}', IP, 'host-gateway-ips'),
    `{\n\t"log-driver": "journald",\n\t"labels": [\n\t\t"a"\n\t],\n\t"host-gateway-ips": [\n\t\t"${IP}"\n\t]\n}`,
  );
  assert.equal(withGateway('{"debug": true}\n', IP, 'host-gateway-ip'), `{\n  "debug": true,\n  "host-gateway-ip": "${IP}"\n}\n`);
  assert.equal(
    withGateway('{\n    "host-gateway-ip": "192.0.2.1",\n    "debug": true\n}\n', IP, 'host-gateway-ip'),
    `{\n    "host-gateway-ip": "${IP}",\n    "debug": true\n}\n`,
  );
  // Engine 28 refuses both keys at once: the old one goes.
  assert.equal(
    withGateway(`{"host-gateway-ip": "192.0.2.1", "debug": true}\n`, IP, 'host-gateway-ips'),
    `{\n  "debug": true,\n  "host-gateway-ips": [\n    "${IP}"\n  ]\n}\n`,
  );
  const done = withGateway('{"debug": true}\n', IP, 'host-gateway-ip');
  assert.equal(withGateway(done, IP, 'host-gateway-ip'), done, 'idempotent');
});

test('malformed daemon.json: usage error with line and column, nothing planned', () => {
  const table: Array<[string, string]> = [
    ['{\n  "debug": true,\n}\n', 'line 3, column 1: expected a key in double quotes (JSON allows no trailing comma)'],
    ['{\n  "debug": tru\n}\n', 'line 2, column 12: expected a value'],
    ['{ "a": 1 } x', 'line 1, column 12: expected a value'],
    ['// comment\n{}', 'line 1, column 1: expected no comment (JSON has none)'],
    ['["not", "an object"]', 'must hold a JSON object'],
  ];
  for (const [text, message] of table) {
    assert.throws(
      () => parseDaemonJson(text),
      (e: unknown) => e instanceof HostaliasError && e.code === 'usage' && e.message.includes(message) && e.message.includes('nothing was changed'),
      text,
    );
    assert.throws(() => planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, { current: text, backup: null, absentMarker: false }, false), HostaliasError);
  }
});

/** Applies write/remove steps to an in-memory file map: enough to check plans end to end. */
function applyTo(files: Map<string, string>, plan: Plan): void {
  for (const s of plan.steps) {
    if (s.kind === 'write') files.set(s.path, s.content);
    else if (s.kind === 'remove') files.delete(s.path);
  }
}
function observe(files: Map<string, string>): DaemonObserved {
  return { current: files.get(DAEMON_JSON) ?? null, backup: files.get(DAEMON_BACKUP) ?? null, absentMarker: files.has(DAEMON_ABSENT_MARKER) };
}

const ORIGINALS: Record<string, string | null> = {
  absent: null,
  empty: '',
  'tabs, no final newline': '{\n\t"log-driver": "journald"\n}',
  'one line': '{"debug":true,"labels":["x=1"]}\n',
  'user set another gateway': '{ "host-gateway-ip": "192.0.2.1" }\n',
};

for (const [name, original] of Object.entries(ORIGINALS)) {
  for (const key of ['host-gateway-ip', 'host-gateway-ips'] as const) {
    test(`daemon.json up → again → down restores byte for byte: ${name}, ${key}`, () => {
      const files = new Map<string, string>(original === null ? [] : [[DAEMON_JSON, original]]);
      const upPlan = planDaemonJson({ ip: IP, key }, null, observe(files), false);
      applyTo(files, upPlan);
      assert.deepEqual(parseDaemonJson(files.get(DAEMON_JSON) ?? null)[key], key === 'host-gateway-ips' ? [IP] : IP);
      assert.match(upPlan.warnings.map((n) => n.text).join('\n'), /sudo systemctl restart docker/);
      assert.deepEqual(planDaemonJson({ ip: IP, key }, IP, observe(files), false).steps, [], 'planning again after apply returns no steps');
      applyTo(files, planDaemonJson(null, IP, observe(files), false));
      assert.equal(files.get(DAEMON_JSON) ?? null, original);
      assert.equal(files.size, original === null ? 0 : 1, 'backup and marker are gone');
      assert.deepEqual(planDaemonJson(null, IP, observe(files), false).steps, [], 'down again: nothing to do');
    });
  }
}

test('daemon.json plan rendered as shell text: first up backs up, --restart-docker restarts', () => {
  const plan = planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, { current: '{"debug": true}\n', backup: null, absentMarker: false }, true);
  assert.equal(
    renderPlan(plan, { rooted: false, root: '/' }),
    [
      '# write /var/lib/hostalias/backups/etc_docker_daemon.json (mode 0600)',
      '--- /dev/null',
      '+++ b/var/lib/hostalias/backups/etc_docker_daemon.json',
      '@@ -0,0 +1,1 @@',
      '+{"debug": true}',
      '# write /etc/docker/daemon.json (mode 0644)',
      '--- a/etc/docker/daemon.json',
      '+++ b/etc/docker/daemon.json',
      '@@ -1,1 +1,4 @@',
      '-{"debug": true}',
      '+{',
      '+  "debug": true,',
      `+  "host-gateway-ip": "${IP}"`,
      '+}',
      '$ systemctl restart docker',
    ].join('\n'),
  );
  assert.deepEqual(plan.warnings, []);
});

test('down after an interrupted --ip move, whichever address daemon.json holds and whichever state is planned first: the original comes back', () => {
  for (const original of [null, '{"debug": true}\n', '{ "host-gateway-ip": "192.0.2.1" }\n']) {
    for (const key of ['host-gateway-ip', 'host-gateway-ips'] as const) {
      for (const holds of [IP, '10.254.254.1']) {
        // down plans the state the move was going to, the one it came from, or (state.json lost) none.
        for (const planned of ['10.254.254.1', IP, null]) {
          const files = new Map<string, string>(original === null ? [] : [[DAEMON_JSON, original]]);
          applyTo(files, planDaemonJson({ ip: IP, key }, null, observe(files), false));
          // The move was killed before or after its daemon.json write: the file holds either address.
          if (holds !== IP) applyTo(files, planDaemonJson({ ip: holds, key }, IP, observe(files), false));
          applyTo(files, planDaemonJson(null, planned, observe(files), false));
          const what = `${original} ${key}, daemon.json holding ${holds}, down planned for ${planned}`;
          assert.equal(files.get(DAEMON_JSON) ?? null, original, what);
          assert.equal(files.size, original === null ? 0 : 1, `${what}: backup and marker are gone`);
          assert.deepEqual(planDaemonJson(null, planned, observe(files), false).steps, []);
        }
      }
    }
  }
});

test('a plan that drops the backup restores daemon.json first, in the same plan', () => {
  const files = new Map([[DAEMON_JSON, '{"debug": true}\n']]);
  applyTo(files, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(files), false));
  files.set(DAEMON_JSON, (files.get(DAEMON_JSON) ?? '').replace(IP, '10.254.254.1'));
  const down = planDaemonJson(null, IP, observe(files), false);
  assert.deepEqual(
    down.steps.map((s) => `${s.kind} ${s.kind === 'run' ? s.argv.join(' ') : s.path}`),
    [`write ${DAEMON_JSON}`, `remove ${DAEMON_BACKUP}`],
  );
});

test("down after the user edited daemon.json puts back the user's own earlier host-gateway, not nothing", () => {
  const files = new Map([[DAEMON_JSON, '{ "host-gateway-ip": "192.0.2.1" }\n']]);
  applyTo(files, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(files), false));
  files.set(DAEMON_JSON, (files.get(DAEMON_JSON) ?? '').replace('{', '{\n  "debug": true,'));
  applyTo(files, planDaemonJson(null, IP, observe(files), false));
  assert.deepEqual(parseDaemonJson(files.get(DAEMON_JSON) ?? null), { debug: true, 'host-gateway-ip': '192.0.2.1' });
});

test('down keeps edits the user made after up: only our key goes', () => {
  const files = new Map([[DAEMON_JSON, '{"debug": true}\n']]);
  applyTo(files, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(files), false));
  files.set(DAEMON_JSON, (files.get(DAEMON_JSON) ?? '').replace('"debug": true', '"debug": false,\n  "log-level": "warn"'));
  const downPlan = planDaemonJson(null, IP, observe(files), false);
  applyTo(files, downPlan);
  assert.deepEqual(parseDaemonJson(files.get(DAEMON_JSON) ?? null), { debug: false, 'log-level': 'warn' });
  assert.match(downPlan.notes.map((n) => n.text).join(), /edited after hostalias changed it/);
  assert.equal(files.has(DAEMON_BACKUP), false);
});

test('an ip change rewrites the key but keeps the first backup', () => {
  const files = new Map([[DAEMON_JSON, '{}']]);
  applyTo(files, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(files), false));
  const move = planDaemonJson({ ip: '10.254.254.1', key: 'host-gateway-ip' }, IP, observe(files), false);
  assert.deepEqual(
    move.steps.map((s) => s.kind === 'write' && s.path),
    [DAEMON_JSON],
  );
  applyTo(files, move);
  applyTo(files, planDaemonJson(null, '10.254.254.1', observe(files), false));
  assert.equal(files.get(DAEMON_JSON), '{}');
});

const VERSION = JSON.parse(dockerFixture('version-engine-20.10.json')) as { Server: Record<string, unknown> };
const INFO = JSON.parse(dockerFixture('info-engine-20.10.json')) as { OperatingSystem: string };

/** A runner for the whole `up`: ip in a fresh namespace plus the docker probes. */
function engineRunner(opts: { server?: string; os?: string; context?: string; dockerd?: string }) {
  const ip = new FakeIp();
  ip.runner
    .on(
      ['docker', 'version', '--format', '{{json .}}'],
      opts.server ? ok(JSON.stringify({ ...VERSION, Server: { ...VERSION.Server, Version: opts.server } })) : ENGINE_DOWN,
    )
    .on(['docker', 'info', '--format', '{{json .}}'], ok(JSON.stringify({ ...INFO, OperatingSystem: opts.os ?? INFO.OperatingSystem })))
    .on(['docker', 'context', 'show'], ok(`${opts.context ?? 'default'}\n`))
    .on(['dockerd', '--version'], opts.dockerd ? ok(`Docker version ${opts.dockerd}, build 5d6db84\n`) : fail('dockerd: command not found', 127));
  return ip;
}

/** `--root` context with the core parts plus this one (the firewall/forward parts have their own tests). */
function dockerCtx(runner: Runner, root: string): Context {
  return { ...rootedContext(runner, root), parts: [...CORE_PARTS, dockerDaemonPart] };
}

test('up --docker-daemon / down through the Part, under --root: byte-identical restore, idempotent', async (t) => {
  const original = '{\n    "storage-driver": "overlay2"\n}';
  const root = await makeRoot(t, { [DAEMON_JSON]: original });
  const ctx = dockerCtx(engineRunner({ server: '28.2.2' }).runner, root);
  const res = await up(ctx, { dockerDaemon: true, restartDocker: true, persist: 'none' });
  assert.deepEqual(
    res.skipped.map((s) => s.kind === 'run' && s.argv.join(' ')),
    ['systemctl restart docker'],
    'the restart is a service step, skipped under --root',
  );
  assert.ok(
    res.plan.notes.some((n) => n.text.includes('"host-gateway-ips" because the engine is 28.2.2, from the running engine')),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  const tree = await readTree(root);
  assert.equal(tree[DAEMON_JSON], `{\n    "storage-driver": "overlay2",\n    "host-gateway-ips": [\n        "${IP}"\n    ]\n}`);
  assert.equal(tree[DAEMON_BACKUP], original);
  const again = await planChange(ctx, res.state?.desired ?? null, await loadState(ctx.fs));
  assert.deepEqual(again.plan.steps, [], 'planning again after apply returns no steps');
  const downRes = await down(ctx);
  assert.deepEqual(
    downRes.skipped.map((s) => s.kind === 'run' && s.argv.join(' ')),
    ['systemctl restart docker'],
    'down restarts too (restartDocker is kept in the state)',
  );
  const after = await readTree(root);
  assert.equal(after[DAEMON_JSON], original);
  assert.equal(after[DAEMON_BACKUP], undefined);
});

test('no daemon.json before: down removes the one up created', async (t) => {
  const root = await makeRoot(t);
  const ctx = dockerCtx(engineRunner({ server: '20.10.24+dfsg1' }).runner, root);
  const first = await up(ctx, { dockerDaemon: true, persist: 'none' });
  assert.match(first.plan.warnings.map((n) => n.text).join(), /sudo systemctl restart docker/);
  const tree = await readTree(root);
  assert.equal(tree[DAEMON_JSON], `{\n  "host-gateway-ip": "${IP}"\n}\n`);
  assert.ok(tree[DAEMON_ABSENT_MARKER]);
  const off = await up(ctx, { dockerDaemon: false });
  assert.equal(off.state?.desired.dockerDaemon, false);
  const after = await readTree(root);
  assert.equal(after[DAEMON_JSON], undefined);
  assert.equal(after[DAEMON_ABSENT_MARKER], undefined);
});

test('engine unreachable: the version comes from dockerd --version, and the note says so', async (t) => {
  const root = await makeRoot(t);
  const ctx = dockerCtx(engineRunner({ dockerd: '27.3.1' }).runner, root);
  const res = await up(ctx, { dockerDaemon: true, persist: 'none' });
  assert.ok(
    res.plan.notes.some((n) =>
      /"host-gateway-ip" because the engine is 27\.3\.1, from dockerd --version: 27\.3\.1 \(the engine did not answer: Cannot connect/.test(n.text),
    ),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
});

test('no engine and no dockerd: unsupported, nothing written', async (t) => {
  const root = await makeRoot(t);
  const ctx = dockerCtx(engineRunner({}).runner, root);
  await assert.rejects(
    up(ctx, { dockerDaemon: true, persist: 'none' }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /systemctl start docker/.test(e.fix ?? ''),
  );
  assert.deepEqual(
    Object.keys(await readTree(root)).filter((p) => !p.endsWith('lock')),
    [],
  );
});

for (const [what, opts] of [
  ['docker info', { server: '28.0.1', os: 'Docker Desktop' }],
  ['the context name', { server: '28.0.1', context: 'desktop-linux' }],
] as const) {
  test(`Docker Desktop (detected by ${what}) is refused with exit code 7, nothing written`, async (t) => {
    const root = await makeRoot(t, { [DAEMON_JSON]: '{}' });
    const ctx = dockerCtx(engineRunner(opts).runner, root);
    await assert.rejects(
      up(ctx, { dockerDaemon: true, persist: 'none' }),
      (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /Docker Desktop/.test(e.message) && /--no-docker-daemon/.test(e.fix ?? ''),
    );
    const tree = await readTree(root);
    assert.equal(tree[DAEMON_JSON], '{}');
    assert.equal(tree['/var/lib/hostalias/state.json'], undefined);
  });
}

for (const [name, opts, why] of [
  ['OrbStack', { server: '27.5.1', os: 'OrbStack' }, /OrbStack runs the engine in its own VM/],
  ['Colima', { server: '27.4.0', context: 'colima' }, /Colima runs the engine in its own VM/],
] as const) {
  test(`${name} is refused like Desktop (its VM owns daemon.json), nothing written`, async (t) => {
    const root = await makeRoot(t, { [DAEMON_JSON]: '{}' });
    const ctx = dockerCtx(engineRunner(opts).runner, root);
    await assert.rejects(
      up(ctx, { dockerDaemon: true, persist: 'none' }),
      (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && why.test(e.message) && /--no-docker-daemon/.test(e.fix ?? ''),
    );
    assert.equal((await readTree(root))[DAEMON_JSON], '{}');
  });
}

test('Podman is refused: it reads no daemon.json; nothing written', async (t) => {
  const root = await makeRoot(t, { [DAEMON_JSON]: '{}' });
  const ip = new FakeIp();
  ip.runner
    .on(['docker', 'version', '--format', '{{json .}}'], ok(dockerFixture('version-podman.json')))
    .on(['docker', 'info', '--format', '{{json .}}'], ok('{}'))
    .on(['docker', 'context', 'show'], ok('default\n'));
  await assert.rejects(
    up(dockerCtx(ip.runner, root), { dockerDaemon: true, persist: 'none' }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'unsupported' && /Podman does not read/.test(e.message),
  );
  assert.equal((await readTree(root))[DAEMON_JSON], '{}');
});

test('malformed daemon.json refuses up before anything changes', async (t) => {
  const root = await makeRoot(t, { [DAEMON_JSON]: '{\n  "debug": true,\n}\n' });
  const ip = engineRunner({ server: '20.10.24' });
  const ctx = dockerCtx(ip.runner, root);
  await assert.rejects(
    up(ctx, { dockerDaemon: true, persist: 'none' }),
    (e: unknown) => e instanceof HostaliasError && e.code === 'usage' && /line 3, column 1/.test(e.message),
  );
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo'], 'the alias was not added either');
  assert.equal((await readTree(root))[DAEMON_JSON], '{\n  "debug": true,\n}\n');
});

test('a deeply nested daemon.json is a usage error with file:line:col, not a stack overflow', () => {
  const deep = `{\n  "a": ${'['.repeat(100_000)}${']'.repeat(100_000)}\n}\n`;
  assert.throws(
    () => parseDaemonJson(deep),
    (e: Error & { code?: string }) => e.code === 'usage' && /daemon\.json:2:71: nested more than 64 levels/.test(e.message),
  );
  assert.deepEqual(parseDaemonJson('{"a": "[[[[[[", "b": [[1]]}'), { a: '[[[[[[', b: [[1]] }, 'brackets in strings do not count');
});
