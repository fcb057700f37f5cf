/**
 * doctor's `dns` findings for `up --dns`: the resolver on the alias (answering, silent, someone
 * else on its port, no alias, no unit, stopped, no service manager), the host's resolv.conf
 * (missing, unreadable, mode, empty, only the alias), each engine's setting (rootful Docker's
 * daemon.json or --dns flags, Podman's containers.conf, the users' own files, CONTAINERS_CONF),
 * and --probe's plain container (no --add-host; why a name didn't resolve). Each failure has a fix.
 * A real resolver on 127.0.0.1 (a port the kernel picks) is asked by the observer; no root.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultDesired, type Desired } from '../../src/model/config.js';
import type { Context, Finding } from '../../src/model/context.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { linuxBackend } from '../../src/platform/linux/backend.js';
import { doctorInputFor } from '../../src/doctor/run-checks.js';
import {
  judgeResolvConf,
  judgeResolver,
  observeResolvConf,
  observeResolver,
  type ResolverObserved,
  type ResolverService,
  upDnsArgs,
} from '../../src/doctor/check-dns.js';
import { judgeDnsEngines, observeDnsService, type DnsEnginesObserved } from '../../src/platform/linux/doctor/check-dns.js';
import { dnsResolveFailure, probeRunArgs } from '../../src/doctor/probe.js';
import { parseProbeOutput } from '../../src/doctor/probe-script.js';
import { parseHosts } from '../../src/dns/host-files.js';
import { startResolver } from '../../src/dns/server.js';
import type { AskResult } from '../../src/dns/client.js';
import { ProcessRunner } from '../../src/exec/runner.js';
import { defaultFix, type FixCommand } from '../../src/model/invocation.js';

const ALIAS = '10.254.254.254';
/** The reader runs hostalias as `hostalias` and it re-runs itself through sudo for a change (DEFAULT_INVOCATION). */
const fix: FixCommand = defaultFix;
const desired = (over: Partial<Desired> = {}): Desired => ({ ...defaultDesired(), dns: true, ...over });
const answer = (...addresses: string[]): AskResult => ({ kind: 'answer', rcode: 'NOERROR', addresses });
const service = (over: Partial<ResolverService> = {}): ResolverService => ({
  name: 'hostalias-dns.service',
  installed: true,
  running: true,
  restart: 'sudo systemctl restart hostalias-dns.service',
  logs: 'sudo journalctl -u hostalias-dns.service -n 50',
  foreground: 'sudo hostalias resolver --listen 10.254.254.254   # keep it running: Ctrl-C stops it',
  ...over,
});
const observed = (over: Partial<ResolverObserved> = {}): ResolverObserved => ({
  name: 'local_host',
  udp: answer(ALIAS),
  tcp: answer(ALIAS),
  holders: [],
  aliasPresent: true,
  service: service(),
  ...over,
});
const one = (fs: Finding[]): Finding => {
  assert.equal(fs.length, 1, JSON.stringify(fs));
  return fs[0] as Finding;
};

test('dns: the resolver on the alias, judged from what was seen, each failure with its fix', () => {
  const restart = 'sudo systemctl restart hostalias-dns.service   # its log: sudo journalctl -u hostalias-dns.service -n 50';
  const table: Array<[string, Partial<ResolverObserved>, Finding['status'], RegExp, string]> = [
    ['answers over udp and tcp', {}, 'ok', /answers on 10\.254\.254\.254:53 \(udp and tcp\): local_host → 10\.254\.254\.254/, ''],
    ['udp only', { tcp: { kind: 'timeout' } }, 'warn', /over UDP but not over TCP \(no answer in time\)/, restart],
    [
      'another server answers',
      { udp: answer('192.0.2.1'), tcp: answer('192.0.2.1'), holders: ['dnsmasq[77] on 0.0.0.0:53'] },
      'fail',
      /answers local_host with NOERROR 192\.0\.2\.1, not the alias: dnsmasq\[77\] on 0\.0\.0\.0:53 holds port 53/,
      'stop dnsmasq[77] or make it listen elsewhere, then: sudo systemctl restart hostalias-dns.service',
    ],
    ['our resolver answers another address', { udp: answer('192.0.2.1'), tcp: answer('192.0.2.1') }, 'fail', /not the alias 10\.254\.254\.254/, restart],
    [
      'port held by another, silent',
      { udp: { kind: 'timeout' }, tcp: { kind: 'refused' }, holders: ['dnsmasq[77] on 0.0.0.0:53'] },
      'fail',
      /nothing answers on 10\.254\.254\.254:53 \(no answer in time\): port 53 there is held by dnsmasq\[77\]/,
      'stop dnsmasq[77] or make it listen elsewhere, then: sudo systemctl restart hostalias-dns.service',
    ],
    [
      'no alias',
      { udp: { kind: 'error', message: 'connect EINVAL' }, tcp: { kind: 'error', message: 'x' }, aliasPresent: false },
      'fail',
      /the alias 10\.254\.254\.254 is not on the loopback/,
      'hostalias up',
    ],
    [
      'no unit',
      { udp: { kind: 'refused' }, tcp: { kind: 'refused' }, service: service({ installed: false, running: false }) },
      'fail',
      /refused: nothing listens there\): the resolver's service hostalias-dns\.service is not installed/,
      'hostalias up --dns',
    ],
    [
      'stuck',
      { udp: { kind: 'timeout' }, tcp: { kind: 'timeout' }, holders: ['hostalias-dns[12] on 10.254.254.254:53'] },
      'fail',
      /though hostalias-dns\[12\] on 10\.254\.254\.254:53 listens there: it is stuck/,
      restart,
    ],
    [
      'stopped',
      { udp: { kind: 'refused' }, tcp: { kind: 'refused' }, service: service({ running: false }) },
      'fail',
      /hostalias-dns\.service is not running/,
      restart,
    ],
    [
      'no service manager',
      { udp: { kind: 'refused' }, tcp: { kind: 'refused' }, service: service({ running: null }) },
      'fail',
      /no service manager runs here to start hostalias-dns\.service/,
      'sudo hostalias resolver --listen 10.254.254.254   # keep it running: Ctrl-C stops it',
    ],
    ['active but silent', { udp: { kind: 'refused' }, tcp: { kind: 'refused' } }, 'fail', /is active: it may be restarting after a crash/, restart],
  ];
  for (const [what, over, status, message, fixLine] of table) {
    const f = one(judgeResolver(observed(over), desired(), fix));
    assert.equal(f.status, status, what);
    assert.match(f.message, message, what);
    assert.equal(f.fix ?? '', fixLine, what);
  }
  const users = one(
    judgeResolver(observed({ udp: { kind: 'refused' }, service: service({ installed: false }) }), desired({ dnsUsers: ['alice', 'bob'] }), fix),
  );
  assert.equal(users.fix, 'hostalias up --dns --dns-user alice,bob', 'the fix keeps the recorded users');
  assert.equal(upDnsArgs({ dnsUsers: [] }), 'up --dns');
});

test('dns: the host resolv.conf as the resolver reads it', () => {
  const at = (over: Partial<Parameters<typeof judgeResolvConf>[0]>) =>
    one(judgeResolvConf({ path: '/etc/resolv.conf', text: null, error: null, mode: 0o644, ...over }, ALIAS));
  const chmod = 'sudo chmod 644 /etc/resolv.conf';
  const ok = at({ text: 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n' });
  assert.equal(ok.status, 'ok');
  assert.match(ok.message, /forwards other names to 127\.0\.0\.53, 192\.0\.2\.53/);
  assert.deepEqual([at({}).status, at({}).fix?.startsWith('sudo ln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf')], ['fail', true], 'missing');
  assert.deepEqual([at({ error: 'EACCES' }).status, at({ error: 'EACCES' }).fix], ['fail', chmod], 'unreadable');
  const mode = at({ text: 'nameserver 192.0.2.53\n', mode: 0o600 });
  assert.deepEqual([mode.status, mode.fix], ['fail', chmod]);
  assert.match(mode.message, /not readable by other users \(mode 0600\): the resolver runs as an unprivileged user/);
  assert.equal(at({ text: 'nameserver 192.0.2.53\n', mode: null }).status, 'ok', 'a link: its target decides, not checked here');
  assert.match(at({ text: '# nothing\nsearch example\n' }).message, /lists no nameserver: the resolver forwards nothing/);
  assert.equal(at({ text: '# nothing\n' }).status, 'warn');
  assert.match(at({ text: `nameserver ${ALIAS}\n` }).message, /lists only the alias 10\.254\.254\.254 itself/);
});

test('dns: each engine’s setting points at the resolver, or the finding names the file and the fix', () => {
  const obs = (over: Partial<DnsEnginesObserved>): DnsEnginesObserved => ({ files: [], containersConfEnv: null, missingUsers: [], ...over });
  const file = { engine: 'Docker (rootful)', path: '/etc/docker/daemon.json', pickup: 'sudo systemctl restart docker' };
  const good = judgeDnsEngines(
    obs({
      files: [
        { ...file, servers: [ALIAS, '192.0.2.53'] },
        { engine: 'rootless Podman of alice', path: '/home/alice/.config/containers/containers.conf', servers: [ALIAS], pickup: 'nothing' },
      ],
    }),
    ALIAS,
    fix,
    'up --dns --dns-user alice',
  );
  assert.deepEqual(
    good.map((f) => [f.status, f.message]),
    [
      ['ok', 'Docker (rootful): /etc/docker/daemon.json → 10.254.254.254, 192.0.2.53: its containers ask the resolver first'],
      ['ok', 'rootless Podman of alice: /home/alice/.config/containers/containers.conf → 10.254.254.254: its containers ask the resolver first'],
    ],
  );
  const none = one(judgeDnsEngines(obs({ files: [{ ...file, servers: null }] }), ALIAS, fix, 'up --dns'));
  assert.equal(none.status, 'fail');
  assert.match(none.message, /daemon\.json sets no DNS servers, not the alias 10\.254\.254\.254 first: its containers don't ask the resolver/);
  assert.equal(none.fix, 'hostalias up --dns   # then: sudo systemctl restart docker');
  const other = one(judgeDnsEngines(obs({ files: [{ ...file, servers: ['192.0.2.53'] }] }), ALIAS, fix, 'up --dns'));
  assert.match(other.message, /sets 192\.0\.2\.53, not the alias/);
  const flags = one(judgeDnsEngines(obs({ files: [{ ...file, servers: ['192.0.2.53'], source: 'dockerd --dns (pid 9)' }] }), ALIAS, fix, 'up --dns'));
  assert.match(flags.message, /^Docker \(rootful\): dockerd --dns \(pid 9\) sets 192\.0\.2\.53/);
  assert.match(flags.fix ?? '', /after removing --dns from dockerd's command line/);
  const unreadable = one(
    judgeDnsEngines(
      obs({ files: [{ ...file, engine: 'rootless Docker of bob', path: '/home/bob/.config/docker/daemon.json', servers: null, error: 'EACCES' }] }),
      ALIAS,
      fix,
      'up --dns --dns-user bob',
    ),
  );
  assert.deepEqual([unreadable.status, unreadable.fix], ['fail', 'hostalias up --dns --dns-user bob']);
  const env = one(judgeDnsEngines(obs({ containersConfEnv: { path: '/tmp/lab/containers.conf', servers: null } }), ALIAS, fix, 'up --dns'));
  assert.equal(env.status, 'warn');
  assert.match(env.message, /CONTAINERS_CONF=\/tmp\/lab\/containers\.conf is set here: podman run with it reads only that file/);
  assert.deepEqual(
    judgeDnsEngines(obs({ containersConfEnv: { path: '/tmp/x.conf', servers: [ALIAS] } }), ALIAS, fix, 'up --dns'),
    [],
    'that file has it: nothing to say',
  );
  const gone = one(judgeDnsEngines(obs({ missingUsers: ['carol'] }), ALIAS, fix, 'up --dns --dns-user carol'));
  assert.deepEqual([gone.status, gone.fix], ['warn', 'hostalias up --dns']);
});

test('dns: a real resolver on 127.0.0.1 observed answering, then stopped (refused at once)', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'hal-dns-doctor-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  // 127.0.0.1 stands in for the alias (adding the /32 alias needs root): the alias is on the loopback.
  const ip = '127.0.0.1';
  const resolver = await startResolver({
    listen: { host: ip, port: 0 },
    local: { alias: ip, names: new Set(['local_host']), hosts: parseHosts(''), ttl: 10 },
    upstreams: [],
    sources: { allows: () => true },
  });
  const ctx: Context = {
    runner: new ProcessRunner(),
    fs: new SystemFs(root),
    backend: { ...linuxBackend, aliasPresent: async () => true },
    live: true,
    isRoot: false,
    env: {},
  };
  const state = { version: 1 as const, desired: desired({ ip, names: ['local_host'] }), persistence: null, updatedAt: '' };
  const input = doctorInputFor(ctx, state);
  const probe = { port: resolver.address.port, timeoutMs: 2000 };
  const up = await observeResolver(input, service(), probe);
  assert.deepEqual([up.udp, up.tcp], [answer(ip), answer(ip)]);
  assert.equal(one(judgeResolver(up, input.desired, fix, probe.port)).status, 'ok');
  await resolver.close();
  const down = await observeResolver(input, service({ running: false }), probe);
  assert.deepEqual([down.udp.kind, down.tcp.kind], ['refused', 'refused'], 'ICMP port unreachable and a refused connection, not a wait');
  const f = one(judgeResolver(down, input.desired, fix, probe.port));
  assert.equal(f.status, 'fail');
  assert.match(f.message, /hostalias-dns\.service is not running/);

  // No systemd under this folder (no ROOT/run/systemd/system): the unit can't run, so the fix is
  // the resolver in the foreground with the unit's own arguments, as root (port 53), on this folder.
  const svc = await observeDnsService(input);
  assert.deepEqual([svc.installed, svc.running], [false, null]);
  assert.equal(
    svc.foreground,
    `sudo hostalias resolver --listen ${ip} --trust-iface docker0 --trust-iface br-+ --trust-iface cni-podman+ --trust-iface podman+ --files-root ${root}   # keep it running: Ctrl-C stops it`,
  );
  const noManager = one(judgeResolver({ ...down, service: { ...svc, installed: true } }, input.desired, fix, probe.port));
  assert.match(noManager.message, /no service manager runs here to start hostalias-dns\.service: run the resolver in the foreground/);
  assert.equal(noManager.fix, svc.foreground);

  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/resolv.conf'), 'nameserver 192.0.2.53\n');
  await chmod(join(root, 'etc/resolv.conf'), 0o600);
  const rc = await observeResolvConf(input);
  assert.deepEqual([rc.path, rc.mode, rc.error], [join(root, 'etc/resolv.conf'), 0o600, null]);
  assert.equal(one(judgeResolvConf(rc, ip)).fix, `sudo chmod 644 ${join(root, 'etc/resolv.conf')}`);
});

test('doctor --probe with --dns: a plain container (no --add-host); why a name did not resolve', () => {
  const args = probeRunArgs('p', 'busybox', { desired: desired() }, [80]);
  assert.ok(!args.some((a) => a.startsWith('--add-host')), args.join(' '));
  assert.ok(probeRunArgs('p', 'busybox', { desired: desired({ dns: false }) }, [80]).some((a) => a.startsWith('--add-host')));
  const out = parseProbeOutput(`N ${ALIAS}\nN 192.0.2.53\nR local_host -\nD\n`);
  assert.deepEqual(out.nameservers, [ALIAS, '192.0.2.53']);
  const input = { desired: desired(), hostalias: fix };
  const logs = 'journalctl -u hostalias-dns.service';
  assert.match(
    dnsResolveFailure(input, [ALIAS, '192.0.2.53'], { cli: 'docker', rootless: false }, logs).why,
    /asks the alias, but the resolver gave no address/,
  );
  assert.match(dnsResolveFailure(input, ['127.0.0.11'], { cli: 'docker', rootless: false }, logs).why, /Docker's embedded DNS \(127\.0\.0\.11\)/);
  const stale = dnsResolveFailure(input, ['192.0.2.53'], { cli: 'docker', rootless: false }, logs);
  assert.match(stale.why, /lists 192\.0\.2\.53, not the alias: the daemon has not read "dns" from daemon\.json/);
  assert.equal(stale.fix, 'sudo systemctl restart docker');
  assert.match(dnsResolveFailure(input, [], { cli: 'docker', rootless: true }, logs).fix, /^systemctl --user restart docker/);
  assert.equal(
    dnsResolveFailure({ ...input, desired: desired({ dnsUsers: ['alice'] }) }, ['192.0.2.53'], { cli: 'podman', rootless: true }, logs).fix,
    'hostalias up --dns --dns-user alice',
  );
});
