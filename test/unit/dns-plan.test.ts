/**
 * The planners of `up --dns`: the resolver's unit, daemon.json's "dns" beside host-gateway,
 * containers.conf's dns_servers (edited as text, checked as TOML), each converging (planning again
 * after apply returns no steps) and undone byte for byte; the macOS LaunchDaemon on FakeMac; a VM
 * engine refused with exit 2 and nothing changed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parsePlist } from 'plist';
import { CONTAINERS_CONF, withDnsServersValue } from '../../src/docker/containers-conf.js';
import { parseDaemonJson } from '../../src/docker/daemon-json.js';
import { DAEMON_ABSENT_MARKER, DAEMON_BACKUP, type DaemonObserved, planDaemonJson } from '../../src/docker/daemon-plan.js';
import { planDnsConfig } from '../../src/docker/dns-config-plan.js';
import { down, up } from '../../src/engine/converge.js';
import { currentRuntime } from '../../src/exec/runtime.js';
import { EXIT_CODES, HostaliasError } from '../../src/model/errors.js';
import { backupPathFor } from '../../src/model/state.js';
import type { Plan } from '../../src/model/steps.js';
import { DNS_JOB_LABEL } from '../../src/platform/darwin/dns-launchd.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { dnsUnit, type DnsUnitObserved, planDnsUnit, trustedIfaces } from '../../src/platform/linux/dns-unit.js';
import { dockerEngine, FakeMac, MAC_UIDS, MacRootFs, xnuBindError } from '../support/fake-mac.js';
import { makeRoot, readTree } from '../support/rooted.js';

const IP = '10.254.254.254';
const SERVERS = [IP, '192.0.2.53'];
const RT = currentRuntime();

function applyTo(files: Map<string, string>, plan: Plan): void {
  for (const s of plan.steps) {
    if (s.kind === 'write') files.set(s.path, s.content);
    else if (s.kind === 'remove') files.delete(s.path);
  }
}

test('dns unit: written, enabled and started; again: nothing; down: stopped and removed', () => {
  const target = { ip: IP, trusted: trustedIfaces(['wg0']) };
  const obs: DnsUnitObserved = { unit: null, wants: null, systemdRunning: true };
  const plan = planDnsUnit(target, obs, RT);
  assert.deepEqual(
    plan.steps.map((s) => (s.kind === 'run' ? s.argv.join(' ') : `${s.kind} ${s.path}`)),
    [
      'write /etc/systemd/system/hostalias-dns.service',
      'symlink /etc/systemd/system/multi-user.target.wants/hostalias-dns.service',
      'systemctl daemon-reload',
      'systemctl restart hostalias-dns.service',
    ],
  );
  const unit = dnsUnit(target, RT);
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/lib\/hostalias\/current\/node \/usr\/local\/lib\/hostalias\/current\/main\.js resolver --listen 10\.254\.254\.254 --trust-iface docker0 --trust-iface br-\+ .*--trust-iface wg0$/m,
  );
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^RestartSec=1$/m);
  assert.match(unit, /^StartLimitIntervalSec=0$/m);
  assert.match(unit, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  const converged: DnsUnitObserved = { unit, wants: '/etc/systemd/system/hostalias-dns.service', systemdRunning: true };
  assert.deepEqual(planDnsUnit(target, converged, RT).steps, [], 'planning again after apply returns no steps');
  assert.deepEqual(
    planDnsUnit(null, converged, RT).steps.map((s) => (s.kind === 'run' ? s.argv.join(' ') : `${s.kind} ${s.path}`)),
    [
      'systemctl stop hostalias-dns.service',
      'remove /etc/systemd/system/multi-user.target.wants/hostalias-dns.service',
      'remove /etc/systemd/system/hostalias-dns.service',
      'systemctl daemon-reload',
    ],
  );
  assert.deepEqual(planDnsUnit(null, { unit: null, wants: null, systemdRunning: true }, RT).steps, []);
});

const DAEMON_ORIGINALS: Record<string, string | null> = {
  absent: null,
  'tabs, no final newline': '{\n\t"log-driver": "journald"\n}',
  'one line': '{"debug":true,"labels":["x=1"]}\n',
  'its own dns servers': '{\n  "dns": ["192.0.2.1"],\n  "debug": true\n}\n',
};

const observe = (files: Map<string, string>): DaemonObserved => ({
  current: files.get('/etc/docker/daemon.json') ?? null,
  backup: files.get(DAEMON_BACKUP) ?? null,
  absentMarker: files.has(DAEMON_ABSENT_MARKER),
});

for (const [name, original] of Object.entries(DAEMON_ORIGINALS)) {
  test(`daemon.json "dns": up → again → --no-dns restores byte for byte; with host-gateway, taking dns back leaves what host-gateway alone gives: ${name}`, () => {
    const files = new Map<string, string>(original === null ? [] : [['/etc/docker/daemon.json', original]]);
    applyTo(files, planDaemonJson(null, null, observe(files), false, { dns: SERVERS }));
    assert.deepEqual(parseDaemonJson(files.get('/etc/docker/daemon.json') ?? null)['dns'], SERVERS);
    assert.deepEqual(planDaemonJson(null, IP, observe(files), false, { dns: SERVERS }).steps, [], 'again: no steps');
    applyTo(files, planDaemonJson(null, IP, observe(files), false));
    assert.equal(files.get('/etc/docker/daemon.json') ?? null, original, 'byte for byte');
    assert.equal(files.size, original === null ? 0 : 1, 'backup and marker gone');

    const gatewayOnly = new Map(files);
    applyTo(gatewayOnly, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(gatewayOnly), false));
    const both = new Map(files);
    applyTo(both, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, null, observe(both), false, { dns: SERVERS }));
    applyTo(both, planDaemonJson({ ip: IP, key: 'host-gateway-ip' }, IP, observe(both), false));
    assert.equal(both.get('/etc/docker/daemon.json'), gatewayOnly.get('/etc/docker/daemon.json'));
    applyTo(both, planDaemonJson(null, IP, observe(both), false));
    assert.equal(both.get('/etc/docker/daemon.json') ?? null, original);
  });
}

test('daemon.json "dns" edited by the user afterwards: only hostalias\'s list goes, their edit stays', () => {
  const files = new Map<string, string>([['/etc/docker/daemon.json', '{"debug": true}\n']]);
  applyTo(files, planDaemonJson(null, null, observe(files), false, { dns: SERVERS }));
  files.set('/etc/docker/daemon.json', (files.get('/etc/docker/daemon.json') ?? '').replace('"debug": true', '"debug": false'));
  const plan = planDaemonJson(null, IP, observe(files), false);
  applyTo(files, plan);
  assert.deepEqual(parseDaemonJson(files.get('/etc/docker/daemon.json') ?? null), { debug: false });
  assert.match(plan.notes.map((n) => n.text).join('\n'), /only hostalias's "dns" setting is removed/);
});

const TOML_ORIGINALS: Record<string, string | null> = {
  absent: null,
  empty: '',
  'other tables and comments': '# mine\n[engine]\ncgroup_manager = "cgroupfs"\n\n[network]\nnetwork_config_dir = "/x"\n',
  'a [containers] table': '[containers]\n# keep\ndefault_ulimits = ["nofile=1024:1024"]\n[engine]\nevents_logger = "file"',
  'its own multi-line dns_servers': '[containers]\ndns_servers = [\n  "192.0.2.1", # corp\n  "192.0.2.2",\n]\nlog_size_max = -1\n',
};

for (const [name, original] of Object.entries(TOML_ORIGINALS)) {
  test(`containers.conf dns_servers: up → again → down restores byte for byte, every other line kept: ${name}`, () => {
    const file = { path: CONTAINERS_CONF, backup: backupPathFor(CONTAINERS_CONF), marker: `${backupPathFor(CONTAINERS_CONF)}.absent` };
    const codec = {
      apply: (text: string | null, servers: readonly string[]) => withDnsServersValue(text, servers, CONTAINERS_CONF),
      ours: (text: string | null, ip: string | null) => {
        const m = text && ip ? /dns_servers = \["([^"]+)"/.exec(text) : null;
        return m && m[1] === ip ? SERVERS : null;
      },
      strip: (text: string) => text,
    };
    const files = new Map<string, string>(original === null ? [] : [[CONTAINERS_CONF, original]]);
    const obs = () => ({ current: files.get(CONTAINERS_CONF) ?? null, backup: files.get(file.backup) ?? null, absentMarker: files.has(file.marker) });
    applyTo(files, planDnsConfig(file, codec, SERVERS, null, obs()));
    const edited = files.get(CONTAINERS_CONF) ?? '';
    assert.match(edited, /^dns_servers = \["10\.254\.254\.254", "192\.0\.2\.53"\]$/m);
    for (const line of (original ?? '').split('\n').filter((l) => l !== '' && !/dns_servers|"192\.0\.2\.[12]"|^\]/.test(l)))
      assert.ok(edited.includes(line), `kept: ${line}`);
    assert.deepEqual(planDnsConfig(file, codec, SERVERS, IP, obs()).steps, [], 'again: no steps');
    applyTo(files, planDnsConfig(file, codec, null, IP, obs()));
    assert.equal(files.get(CONTAINERS_CONF) ?? null, original, 'byte for byte');
    assert.equal(files.size, original === null ? 0 : 1);
  });
}

test('containers.conf that is not TOML: a usage error naming line and column, nothing planned', () => {
  assert.throws(
    () => withDnsServersValue('[containers\nx=', SERVERS, CONTAINERS_CONF),
    (e: unknown) => e instanceof HostaliasError && e.code === 'usage' && /line 1, column \d+/.test(e.message),
  );
});

test('macOS (FakeMac): up --dns installs and loads dev.hostalias.dns, down removes it; Docker Desktop answering: exit 2, nothing changed', async (t) => {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  const ctx = { runner: m, fs, backend: darwinBackend, live: true, isRoot: true, env: {} };
  await up(ctx, { lanGuard: false });
  const res = await up(ctx, { lanGuard: false, dns: true });
  const plist = parsePlist((await fs.read(`/Library/LaunchDaemons/${DNS_JOB_LABEL}.plist`)) ?? '') as Record<string, unknown>;
  assert.deepEqual(plist['ProgramArguments'], [RT.nodePath, RT.cliPath, 'resolver', '--listen', IP]);
  assert.equal(plist['KeepAlive'], true);
  // Root, as the relays: XNU lets only root bind a specific address below 1024 (in_pcb.c in_pcbbind),
  // and launchd opens the log in /var/log as the job's user.
  assert.equal(plist['UserName'], undefined);
  assert.deepEqual(
    plist['EnvironmentVariables'],
    { DYLD_LIBRARY_PATH: '/usr/local/lib/hostalias/current/lib' },
    "the installed copy's own libraries, as for the relays",
  );
  assert.equal(xnuBindError(MAC_UIDS['nobody'] as number, IP, 53, 'udp', []), 'EACCES', 'what nobody would get for the alias:53');
  assert.ok(m.loaded.has(DNS_JOB_LABEL), 'bootstrapped');
  assert.ok(res.plan.steps.length > 0);
  assert.deepEqual((await up(ctx, { lanGuard: false, dns: true })).plan.steps, [], 'again: no steps');
  await down(ctx);
  assert.equal(m.loaded.has(DNS_JOB_LABEL), false);
  assert.equal(await fs.read(`/Library/LaunchDaemons/${DNS_JOB_LABEL}.plist`), null);

  await up(ctx, { lanGuard: false });
  m.engine = dockerEngine('desktop');
  const before = await readTree(fs.root);
  await assert.rejects(
    up(ctx, { lanGuard: false, dns: true }),
    (e: unknown) => e instanceof HostaliasError && EXIT_CODES[e.code] === 2 && /--dns can't be used with Docker Desktop/.test(e.message),
  );
  assert.deepEqual(await readTree(fs.root), before, 'nothing changed');
});
