import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parsePlist } from 'plist';
import type { ExposeSpec, ForwardSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { down, status, up } from '../../src/engine/converge.js';
import { expose } from '../../src/engine/expose.js';
import { loadState } from '../../src/engine/state-store.js';
import { HostaliasError } from '../../src/model/errors.js';
import { renderPlan } from '../../src/model/steps.js';
import { runChecks } from '../../src/doctor/run-checks.js';
import { doctorInput, loadHostTarget } from '../../src/engine/inputs.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { addressRefusal, loginProbeInput } from '../../src/platform/darwin/expose-check.js';
import { parseRuleCounters, parseSkippedIfaces } from '../../src/platform/darwin/pf.js';
import { dockerEngine, FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

// The macOS backend against the behaviours of a real Mac, simulated by the FakeMac from
// cited output (test/fixtures/darwin/README.md). One block per numbered item of the issue.
const IP = '10.254.254.254';
const PLIST = '/Library/LaunchDaemons/dev.hostalias.alias.plist';
const PG_RELAY = '/Library/LaunchDaemons/dev.hostalias.forward.5432-tcp.plist';
const PG: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: false };
// What `expose` stores on macOS: the relay (via relay), or pf with --keep-source.
const PG_RELAYED: ExposeSpec = { ...PG, via: 'relay' };
const PG_PF: ExposeSpec = { ...PG, keepSource: true };
const PG_PF_STORED: ExposeSpec = { ...PG_PF, via: 'kernel' };
const BLOCK = `block drop in quick on ! lo0 inet from any to ${IP}`;

async function mac(t: TestContext, opts: { root?: boolean } = {}): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  return { ctx: { runner: m, fs, backend: darwinBackend, isRoot: opts.root ?? true, live: true, env: {} }, mac: m, fs };
}

const shell = (plan: Parameters<typeof renderPlan>[0]) =>
  renderPlan(plan, { rooted: false, root: '/' })
    .split('\n')
    .filter((l) => l.startsWith('$ ') || l.startsWith('# '));

/**
 * A Homebrew PostgreSQL: its default pg_hba.conf trusts 127.0.0.1/32 and ::1/128 only, so a
 * client from any other address gets FATAL 28000 "no pg_hba.conf entry for host" (PostgreSQL's
 * auth.c ClientAuthentication) and a local one gets past it (here: the probe role doesn't exist).
 * The reply is the ErrorResponse message as sent on the wire ('E', length, fields).
 */
function homebrewPostgres(source: string, input: string): string {
  if (input !== loginProbeInput(5432)) return '';
  const msg =
    source === '127.0.0.1'
      ? 'role "hostalias_probe" does not exist'
      : `no pg_hba.conf entry for host "${source}", user "hostalias_probe", database "hostalias_probe", no encryption`;
  const fields = `SFATAL\0VFATAL\0C28000\0M${msg}\0\0`;
  return `E\0\0\0${String.fromCharCode(fields.length + 4)}${fields}`;
}

async function doctor(ctx: Context) {
  return runChecks(await doctorInput(ctx));
}

// ---- doctor runs macOS checks only, none crashes, a deleted plist is reported, pf is checked

const MAC_CHECKS = ['alias', 'persistence', 'pf', 'expose', 'docker', 'docker-desktop', 'engine'];

test('doctor on a set-up Mac runs only macOS checks; nothing crashes; all is ok', async (t) => {
  const { ctx, mac: m } = await mac(t);
  m.engine = dockerEngine('desktop');
  await up(ctx, {});
  const findings = await doctor(ctx);
  assert.ok(
    findings.every((f) => MAC_CHECKS.includes(f.id)),
    findings.map((f) => f.id).join(','),
  );
  assert.ok(!findings.some((f) => /crashed/.test(f.message)), JSON.stringify(findings, null, 1));
  const bad = findings.filter((f) => f.status === 'fail' && f.id !== 'docker-desktop');
  assert.deepEqual(bad, []);
  assert.ok(findings.some((f) => f.id === 'persistence' && f.status === 'ok'));
  assert.ok(findings.some((f) => f.id === 'pf' && f.status === 'ok' && /LAN guard/.test(f.message)));
});

test('a deleted plist is reported (the launchd persistence check compares the files)', async (t) => {
  const { ctx, fs } = await mac(t);
  await up(ctx, {});
  assert.ok(
    (await doctor(ctx)).some((f) => f.id === 'persistence' && f.status === 'ok'),
    'negative control: intact before the deletion',
  );
  await fs.remove(PLIST);
  const persistence = (await doctor(ctx)).filter((f) => f.id === 'persistence');
  assert.ok(
    persistence.some((f) => f.status === 'fail' && f.message.includes(`${PLIST} is missing`)),
    JSON.stringify(persistence),
  );
});

test('a plist edited by hand and a job launchd no longer has are reported', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, {});
  m.loaded.delete('dev.hostalias.alias');
  assert.ok((await doctor(ctx)).some((f) => f.id === 'persistence' && f.status === 'fail' && /not loaded in launchd/.test(f.message)));
  m.loaded.add('dev.hostalias.alias');
  await fs.write(PLIST, ((await fs.read(PLIST)) as string).replace('255.255.255.255', '255.0.0.0'), 0o644);
  assert.ok((await doctor(ctx)).some((f) => f.id === 'persistence' && f.status === 'fail' && /differs from what hostalias writes/.test(f.message)));
});

test('pf checks — anchor hook, set skip on lo0, redirect counters; as a user it says it needs root', async (t) => {
  const { ctx, mac: m } = await mac(t);
  await up(ctx, { exposes: [PG_PF] });
  let pf = (await doctor(ctx)).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'warn' && /no connection has been redirected yet/.test(f.message)),
    JSON.stringify(pf),
  );
  await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432']);
  pf = (await doctor(ctx)).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'ok' && /redirect translated 6 packet\(s\) \(1 connection state\(s\) open\)/.test(f.message)),
    JSON.stringify(pf),
  );

  m.skipLo0 = true;
  pf = (await doctor(ctx)).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'fail' && /set skip on lo0/.test(f.message)),
    JSON.stringify(pf),
  );
  m.skipLo0 = false;

  m.mainNat = 'nat-anchor "com.apple/*" all\n';
  pf = (await doctor(ctx)).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'fail' && /no rdr-anchor "com\.apple\/\*"/.test(f.message)),
    JSON.stringify(pf),
  );

  m.asUser = true;
  const asUser = await doctor({ ...ctx, isRoot: false });
  assert.ok(!asUser.some((f) => /crashed/.test(f.message)), JSON.stringify(asUser));
  assert.ok(asUser.some((f) => f.id === 'pf' && f.status === 'warn' && /only be read by root/.test(f.message)));
});

// ---- Desktop's and OrbStack's host.docker.internal is not overridden by default

test('with Docker Desktop or OrbStack the default names leave host.docker.internal alone; status says so', async (t) => {
  for (const kind of ['desktop', 'orbstack'] as const) {
    const { ctx, mac: m } = await mac(t);
    m.engine = dockerEngine(kind);
    await up(ctx, {});
    const loaded = await loadHostTarget(ctx);
    assert.deepEqual(loaded.target.names, ['local_host', 'local'], kind);
    assert.match(loaded.note ?? '', /host\.docker\.internal is left as it is/);
    const report = await status(ctx);
    assert.deepEqual(report.containerNames, ['local_host', 'local']);
    assert.match(report.namesNote ?? '', /reaches this host's 127\.0\.0\.1/);
  }
});

test("Colima, Lima, Rancher Desktop and Podman machine keep their own host.docker.internal too (it reaches the Mac's 127.0.0.1)", async (t) => {
  // Colima: environment/vm/lima/yaml.go maps host.docker.internal to host.lima.internal, which Lima's
  // docs/config/network/user.md calls "the loopback addresses of the host"; Lima's templates/docker.yaml
  // and Rancher Desktop's backend/lima.ts map it the same way; Podman machine's gvproxy answers it with
  // its host address and NATs that to 127.0.0.1 (gvisor-tap-vsock cmd/gvproxy/config.go).
  for (const kind of ['colima', 'lima', 'rancher', 'podman-machine'] as const) {
    const { ctx, mac: m } = await mac(t);
    m.engine = dockerEngine(kind);
    await up(ctx, {});
    const loaded = await loadHostTarget(ctx);
    assert.deepEqual(loaded.target.names, ['local_host', 'local'], kind);
    assert.match(loaded.note ?? '', /host\.docker\.internal is left as it is: .*127\.0\.0\.1/, kind);
    assert.deepEqual((await status(ctx)).containerNames, ['local_host', 'local'], kind);
  }
});

test('negative controls — no engine, a plain Docker Engine, Podman on Linux, or names chosen with --names keep host.docker.internal', async (t) => {
  const { ctx, mac: m } = await mac(t);
  await up(ctx, {});
  assert.ok((await loadHostTarget(ctx)).target.names.includes('host.docker.internal'), 'no engine answers');
  m.engine = dockerEngine('engine');
  assert.ok((await loadHostTarget(ctx)).target.names.includes('host.docker.internal'), 'a Docker Engine gives the name no meaning of its own');
  // Podman on Linux maps host.containers.internal to the host's address, not its loopback: the alias may take the name.
  m.engine = dockerEngine('podman-machine');
  assert.ok(
    (await loadHostTarget({ ...ctx, backend: { ...darwinBackend, platform: 'linux' } })).target.names.includes('host.docker.internal'),
    'Podman on Linux',
  );
  m.engine = dockerEngine('colima');
  await up(ctx, { names: ['host.docker.internal', 'local_host', 'local'] });
  const chosen = await loadHostTarget(ctx);
  assert.deepEqual(chosen.target.names, ['host.docker.internal', 'local_host', 'local']);
  assert.equal(chosen.note, null);
});

// ---- reinstalling a running LaunchDaemon races launchd

test('forward --install with new options while launchd still unloads the old job: bootstrap is retried and succeeds', async (t) => {
  const { ctx, mac: m } = await mac(t);
  const fwd: ForwardSpec = { port: 5432, proto: 'tcp', targets: [] };
  await up(ctx, { forwards: [fwd] });
  m.drainBootstraps = 3;
  await up(ctx, { forwards: [{ ...fwd, targets: ['127.0.0.1:15432'] }] });
  const boots = m.fake.lines.filter((l) => l === 'launchctl bootstrap system /Library/LaunchDaemons/dev.hostalias.forward.5432-tcp.plist');
  assert.equal(boots.length, 1 + 4, 'first install, then 3 refusals and the bootstrap that succeeds');
  assert.ok(m.daemons.get('dev.hostalias.forward.5432-tcp')?.includes('127.0.0.1:15432'));
});

test('up --ip rewrites the alias job while launchd drains it: retried, and the new job runs', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, {});
  m.drainBootstraps = 2;
  await up(ctx, { ip: '10.254.254.253' });
  assert.ok(m.loaded.has('dev.hostalias.alias'));
  assert.match((await fs.read(PLIST)) ?? '', /10\.254\.254\.253/);
  assert.equal((await loadState(fs))?.desired.ip, '10.254.254.253');
});

test('the rollback bootstrap after a bootout is retried too; a fresh bootstrap failing is not (negative control)', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await up(ctx, {});
  const before = await fs.read(PLIST);
  m.drainBootstraps = 2;
  // Moving the alias boots the job out and in; then a new forward's bootstrap fails for good.
  m.failOnce(['launchctl', 'bootstrap', 'system', '/Library/LaunchDaemons/dev.hostalias.forward.8080-tcp.plist'], {
    code: 5,
    stdout: '',
    stderr: fixture('launchctl-bootstrap-failed.stderr.txt'),
  });
  await assert.rejects(
    up(ctx, { ip: '10.254.254.253', forwards: [{ port: 8080, proto: 'tcp', targets: [] }] }),
    (e: unknown) => e instanceof HostaliasError && /rolled back/.test(e.message) && !/rolling back also failed/.test(e.message),
  );
  assert.ok(m.loaded.has('dev.hostalias.alias'), 'the old alias job is loaded again');
  assert.equal(await fs.read(PLIST), before);
  const fresh = m.fake.lines.filter((l) => l.endsWith('dev.hostalias.forward.8080-tcp.plist') && l.startsWith('launchctl bootstrap'));
  assert.equal(fresh.length, 1, 'a first bootstrap that fails is not retried');
});

// ---- expose gives the service a local client (the relay), proven by a login-like exchange

test('expose (default) is a relay daemon connecting from 127.0.0.1: a pg_hba that trusts only 127.0.0.1 lets it in', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.services.set(5432, homebrewPostgres);
  const res = await expose(ctx, PG);
  assert.ok(shell(res.plan).includes(`# write ${PG_RELAY} (mode 0644)`));
  assert.ok(!m.anchor.some((r) => r.startsWith('rdr ')), 'no pf redirect for a relayed port');
  const job = parsePlist((await fs.read(PG_RELAY)) as string) as { ProgramArguments: string[]; UserName?: string };
  assert.deepEqual(job.ProgramArguments.slice(2, 8), ['forward', '5432/tcp', '--listen', IP, '--to', '5432']);
  assert.equal(job.UserName, undefined, 'root, as on Linux: XNU refuses a user other than root what a relay needs (in_pcb.c)');
  assert.ok(
    res.plan.notes.some((n) => /relay dev\.hostalias\.forward\.5432-tcp accepts connections/.test(n.text)),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  const found = (await doctor(ctx)).filter((f) => f.id === 'expose');
  assert.deepEqual(
    found.map((f) => f.status),
    ['ok'],
    JSON.stringify(found),
  );
  assert.match(found[0]?.message ?? '', /service sees 127\.0\.0\.1/);
});

test('with --keep-source (pf) the service sees the alias and refuses it; doctor says so from the exchange, not the connect', async (t) => {
  const { ctx, mac: m } = await mac(t);
  m.services.set(5432, homebrewPostgres);
  const res = await expose(ctx, PG_PF);
  assert.ok(
    res.plan.notes.some((n) => /the service sees 10\.254\.254\.254/.test(n.text) && /pg_hba\.conf/.test(n.text)),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  assert.equal((await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432'])).code, 0, 'the TCP connect alone succeeds');
  const found = (await doctor(ctx)).filter((f) => f.id === 'expose');
  assert.equal(found[0]?.status, 'fail', JSON.stringify(found));
  assert.match(found[0]?.message ?? '', /no pg_hba\.conf entry for host "10\.254\.254\.254"/);
  assert.equal(addressRefusal(homebrewPostgres('127.0.0.1', loginProbeInput(5432))), null, 'negative control: the local client is not refused by address');
});

// ---- a LAN guard on macOS; Linux-only options refused

test('up installs the LAN guard in the anchor (pf enabled with our reference); --allow-iface trusts a bridge; --no-lan-guard removes it', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  const res = await up(ctx, {});
  assert.ok(shell(res.plan).includes("$ pfctl -a com.apple/hostalias -f - <<'EOF'"));
  assert.deepEqual(m.anchor, [BLOCK]);
  assert.equal(m.tokens.length, 1);
  assert.match((await fs.read('/etc/pf.anchors/dev.hostalias')) ?? '', new RegExp(BLOCK.replace(/[.*!]/g, '\\$&')), 'the boot job reloads it');
  await up(ctx, { allowIfaces: ['bridge100'] });
  assert.deepEqual(m.anchor, [`pass in quick on bridge100 inet from any to ${IP} flags S/SA keep state`, BLOCK]);
  await up(ctx, { lanGuard: false });
  assert.deepEqual(m.anchor, [], 'negative control: without the guard the anchor holds no block');
  assert.deepEqual(m.tokens, []);
});

// ---- --dry-run without root

test('up --dry-run as a user plans from the files and says what it assumed (pfctl needs root)', async (t) => {
  const { ctx, mac: m } = await mac(t, { root: false });
  m.asUser = true;
  const res = await up(ctx, { exposes: [PG_PF] }, { dryRun: true });
  assert.ok(shell(res.plan).includes('$ pfctl -E    # saves /var/lib/hostalias/pf-token'));
  assert.ok(
    res.plan.notes.some((n) => /pf can only be read by root/.test(n.text) && /sudo shows the exact plan/.test(n.text)),
    res.plan.notes.map((n) => n.text).join('\n'),
  );
  assert.deepEqual(m.changes, []);
});

// ---- DIOCGETRULES before the anchor exists; a redirect that does not fire

test('pfctl answers DIOCGETRULES for the not-yet-created anchor, with exit 1 or 0: read as empty', async (t) => {
  for (const exit of [1, 0]) {
    const { ctx, mac: m } = await mac(t);
    m.missingAnchorExit = exit;
    assert.equal(m.anchorExists, false);
    await up(ctx, {});
    assert.deepEqual(m.anchor, [BLOCK], `exit ${exit}`);
    assert.deepEqual((await up(ctx, {})).plan.steps, [], `exit ${exit}: converged`);
  }
});

test('a --keep-source redirect that does not fire (child of com.apple/*) falls back to the relay, saying why', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.childAnchorFires = false;
  m.services.set(5432, homebrewPostgres);
  const res = await expose(ctx, PG_PF);
  assert.ok(
    res.plan.warnings.some((w) => /pf redirect does not fire/.test(w.text) && /child of com\.apple/.test(w.text) && /served by the relay/.test(w.text)),
    res.plan.warnings.map((n) => n.text).join('\n'),
  );
  assert.deepEqual((await loadState(fs))?.desired.exposes, [PG_RELAYED], 'stored as relayed');
  assert.ok(m.daemons.has('dev.hostalias.forward.5432-tcp'));
  assert.ok(!m.anchor.some((r) => r.startsWith('rdr ')), 'the redirect that never fired is gone');
  assert.equal(
    (await m.run(['nc', '-G', '2', '-w', '2', IP, '5432'], { input: loginProbeInput(5432) })).stdout.includes('does not exist'),
    true,
    'the service is reached, from 127.0.0.1',
  );
});

test('with `set skip on lo0` the fallback names that cause; when the redirect fires nothing falls back (negative control)', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.skipLo0 = true;
  const res = await expose(ctx, PG_PF);
  assert.ok(
    res.plan.warnings.some((w) => /set skip on lo0/.test(w.text)),
    res.plan.warnings.map((n) => n.text).join('\n'),
  );
  const other = await mac(t);
  const fired = await expose(other.ctx, PG_PF);
  assert.deepEqual(fired.plan.warnings, []);
  assert.ok(fired.plan.notes.some((n) => /redirect for 10\.254\.254\.254:5432 fires/.test(n.text)));
  assert.deepEqual((await loadState(other.fs))?.desired.exposes, [PG_PF_STORED]);
  assert.deepEqual((await loadState(fs))?.desired.exposes, [PG_RELAYED]);
});

test('parsers: pfctl -v counters and the (skip) flag, as pfctl prints them', () => {
  const text = `rdr pass on lo0 inet proto tcp from any to ${IP} port = 5432 -> 127.0.0.1 port 5432\n  [ Evaluations: 3         Packets: 6         Bytes: 360         States: 0     ]\n  [ Inserted: uid 0 pid 4242 ]\n`;
  assert.deepEqual(parseRuleCounters(text), [
    { rule: `rdr pass on lo0 inet proto tcp from any to ${IP} port = 5432 -> 127.0.0.1 port 5432`, evaluations: 3, packets: 6, states: 0 },
  ]);
  assert.deepEqual(parseSkippedIfaces(fixture('pfctl-v-s-interfaces-skip-lo0.txt')), ['lo0']);
  assert.deepEqual(parseSkippedIfaces(fixture('pfctl-v-s-interfaces.txt')), []);
});

test('down removes the guard, the relays and the reference: nothing is left', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  await expose(ctx, PG);
  await down(ctx);
  assert.deepEqual(m.anchor, []);
  assert.deepEqual(m.tokens, []);
  assert.equal(m.daemons.size, 0);
  assert.equal(await fs.read(PG_RELAY), null);
  assert.equal(await loadState(fs), null);
});

// ---- the CLI: doctor --platform darwin on Linux; Linux-only options refused on macOS (exit 2)

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('CLI: doctor --platform darwin on Linux runs only macOS checks, and none crashes', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['doctor', '--platform', 'darwin', '--json', '--root', root]);
  const findings =
    (JSON.parse(res.stdout) as { findings?: Array<{ id: string; message: string }> }).findings ??
    (JSON.parse(res.stdout) as Array<{ id: string; message: string }>);
  assert.ok(findings.length > 0);
  assert.ok(
    findings.every((f) => MAC_CHECKS.includes(f.id)),
    findings.map((f) => f.id).join(','),
  );
  assert.ok(!findings.some((f) => /crashed/.test(f.message)), JSON.stringify(findings, null, 1));
  assert.ok(!findings.some((f) => /\bip -j\b|\/proc\//.test(f.message)));
});

test('CLI: --firewall and --label are refused on macOS with exit 2, nothing written', async (t) => {
  const root = await makeRoot(t);
  for (const args of [
    ['up', '--firewall', 'nftables'],
    ['up', '--label', 'lo:x'],
    ['expose', '5432', '--firewall', 'iptables'],
  ]) {
    const res = await cli([...args, '--platform', 'darwin', '--dry-run', '--root', root]);
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, /Linux-only/);
  }
  const allowed = await cli(['up', '--allow-iface', 'bridge100', '--platform', 'darwin', '--dry-run', '--root', root]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /pass in quick on bridge100 inet from any to 10\.254\.254\.254 flags S\/SA keep state/);
});
