/**
 * `hostalias doctor` against a real kernel and a real dockerd in one lab namespace (shared by the
 * tests of this file, which run in order). Each test stages one fault for real, asserts doctor
 * names it with the right id and fix, runs the printed fix inside the namespace (without `sudo`)
 * and asserts the check passes again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cliPath, createNetns, runCli, startReplyServer, type Netns } from '../lab/netns.js';
import { buildBusyboxImage, startDockerd, type Dockerd } from '../lab/dockerd.js';
import { cliFix } from '../support/e2e.js';
import { waitFor } from '../lab/exec.js';

interface Finding {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix: string | null;
}

let ns: Netns;
let d: Dockerd;
let image: string;
let root: string;

before(async () => {
  ns = await createNetns('doctor');
  d = await startDockerd(ns);
  image = await buildBusyboxImage(d);
  root = await mkdtemp('/tmp/hal-doctor-root-');
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'systemd'], { env: d.env });
  assert.equal(up.code, 0, up.stderr);
});

after(async () => {
  await ns?.destroy();
  if (root) await rm(root, { recursive: true, force: true });
});

async function doctor(...args: string[]): Promise<{ code: number; findings: Finding[]; stderr: string }> {
  const r = await runCli(ns, ['doctor', '--files-root', root, '--json', ...args], { env: d.env, timeoutMs: 120_000 });
  let findings: Finding[];
  try {
    findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, findings, stderr: r.stderr };
}

const of = (fs: Finding[], id: string) => fs.filter((f) => f.id === id);
const worst = (fs: Finding[], id: string) =>
  of(fs, id).some((f) => f.status === 'fail') ? 'fail' : of(fs, id).some((f) => f.status === 'warn') ? 'warn' : 'ok';

/** Runs a printed fix inside the namespace as root, as printed (it names this node and this build). */
async function runFix(fix: string): Promise<void> {
  const cmd = fix;
  const r = await ns.exec(['sh', '-c', cmd], { env: d.env, allowFail: true, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `fix \`${cmd}\` failed: ${r.stderr}${r.stdout}`);
}

test('doctor: a healthy setup passes alias, persistence, route-conflict, docker and firewall', async () => {
  const r = await doctor();
  for (const id of ['alias', 'persistence', 'route-conflict', 'docker', 'daemon-gateway', 'firewall']) {
    assert.equal(worst(r.findings, id), 'ok', `${id}: ${JSON.stringify(of(r.findings, id))}`);
  }
  assert.match(
    of(r.findings, 'docker')
      .map((f) => f.message)
      .join('\n'),
    /Engine 20\.10.*answers at DOCKER_HOST=unix:\/\/\/tmp\/hal-/,
  );
  assert.match(
    of(r.findings, 'docker')
      .map((f) => f.message)
      .join('\n'),
    /bridges: docker0/,
  );
  assert.match(of(r.findings, 'daemon-gateway')[0]?.message ?? '', /host-gateway → 172\.17\.0\.1 .*not the alias/);
  // The human report too: grouped, no colour when not on a TTY.
  const text = await runCli(ns, ['doctor', '--files-root', root], { env: d.env });
  assert.match(text.stdout, /^✓ alias$/m);
  assert.ok(!text.stdout.includes('\x1b['));
});

test('doctor: alias missing → alias fails with `hostalias up`; after the fix it passes', async () => {
  await ns.exec(['ip', 'addr', 'del', '10.254.254.254/32', 'dev', 'lo']);
  const r = await doctor();
  assert.equal(r.code, 1);
  const f = of(r.findings, 'alias')[0];
  assert.equal(f?.status, 'fail');
  assert.match(f?.message ?? '', /10\.254\.254\.254 is not on lo/);
  assert.equal(f?.fix, cliFix(`up --files-root ${root}`));
  await runFix(f.fix);
  assert.equal(worst((await doctor()).findings, 'alias'), 'ok');
});

test('doctor: persistence file edited by hand → persistence fails; the fix rewrites it', async () => {
  const unit = `${root}/etc/systemd/system/hostalias.service`;
  await writeFile(unit, (await readFile(unit, 'utf8')).replace(/addr replace 10\.254\.254\.254/, 'addr replace 10.254.254.1'));
  const r = await doctor();
  const f = of(r.findings, 'persistence').find((x) => x.status === 'fail');
  assert.match(f?.message ?? '', /hostalias\.service differs from what hostalias writes/);
  assert.equal(f?.fix, cliFix(`up --files-root ${root}`));
  await runFix(f?.fix ?? '');
  assert.equal(worst((await doctor()).findings, 'persistence'), 'ok');
  assert.match(await readFile(unit, 'utf8'), /addr replace 10\.254\.254\.254\/32/);
});

test('doctor: a 127.0.0.1-only listener → listeners warns with `hostalias expose PORT`; exposed after the fix', async () => {
  const srv = await startReplyServer(ns, { host: '127.0.0.1', port: 15432 });
  try {
    const r = await doctor();
    const f = of(r.findings, 'listeners').find((x) => x.message.startsWith('tcp 127.0.0.1:15432'));
    assert.equal(f?.status, 'warn', JSON.stringify(of(r.findings, 'listeners')));
    assert.match(f?.message ?? '', /loopback-only.*\(node\[\d+\]\)|\(node\[\d+\]\).*loopback-only/);
    assert.equal(f?.fix, cliFix(`expose 15432 --files-root ${root}`));
    await runFix(f?.fix ?? '');
    const again = await doctor();
    const g = of(again.findings, 'listeners').find((x) => x.message.startsWith('tcp 127.0.0.1:15432'));
    assert.equal(g?.status, 'ok');
    assert.match(g?.message ?? '', /exposed/);
    assert.equal(worst(again.findings, 'firewall'), 'ok', JSON.stringify(of(again.findings, 'firewall')));
  } finally {
    await srv.stop();
  }
});

test('doctor: the exposed 127.0.0.1:15432 service stopped → plain doctor names the port; --probe says to start it, never to bind 0.0.0.0', async () => {
  // Exposed by the test before (kernel rules to 127.0.0.1:15432); its server has stopped since.
  const r = await doctor();
  const stopped = of(r.findings, 'listeners').find((f) => f.message.startsWith('15432/tcp is exposed'));
  assert.equal(stopped?.status, 'warn', JSON.stringify(of(r.findings, 'listeners')));
  assert.match(stopped?.message ?? '', /nothing listens on port 15432: containers are refused at 10\.254\.254\.254:15432 until the service runs again/);
  assert.match(stopped?.fix ?? '', /^start the service on 127\.0\.0\.1:15432/);
  const probed = of((await doctor('--probe', '15432', '--image', image)).findings, 'probe').find((f) => /^local_host:15432: refused/.test(f.message));
  assert.equal(probed?.status, 'fail');
  assert.match(probed?.message ?? '', /15432 is exposed \(kernel rules to 127\.0\.0\.1:15432\), but nothing listens on port 15432: the service is not running/);
  assert.match(probed?.fix ?? '', /^start the service on 127\.0\.0\.1:15432/);
  for (const f of [stopped, probed]) assert.doesNotMatch(f?.fix ?? '', /0\.0\.0\.0/, 'a fix never opens the service wider');
  // Started again on 127.0.0.1, as the fix says: the probe connects, the finding is gone.
  const srv = await startReplyServer(ns, { host: '127.0.0.1', port: 15432 });
  try {
    const again = await doctor('--probe', '15432', '--image', image);
    assert.equal(of(again.findings, 'probe').find((f) => /^local_host:15432/.test(f.message))?.status, 'ok');
    assert.equal(
      of(again.findings, 'listeners').find((f) => f.message.startsWith('15432/tcp is exposed')),
      undefined,
    );
  } finally {
    await srv.stop();
  }
});

test('doctor: `iptables -I INPUT -i docker0 -j DROP` → firewall fails with the delete command; passes after it', async () => {
  await ns.exec(['iptables', '-I', 'INPUT', '-i', 'docker0', '-j', 'DROP']);
  const r = await doctor();
  const f = of(r.findings, 'firewall').find((x) => x.status === 'fail');
  assert.match(f?.message ?? '', /iptables INPUT: `-A INPUT -i docker0 -j DROP` drops traffic from docker0 to 10\.254\.254\.254/);
  assert.equal(f?.fix, 'sudo iptables -D INPUT -i docker0 -j DROP');
  await runFix(f?.fix ?? '');
  assert.equal(worst((await doctor()).findings, 'firewall'), 'ok');
});

test('doctor: six levels of ten jumps to the same chains → firewall answers, each possible drop listed once', async () => {
  const saved = (await ns.exec(['iptables-save', '-t', 'filter'])).stdout;
  const lines = ['*filter', ...Array.from({ length: 6 }, (_, i) => `:L${i + 1} - [0:0]`)];
  for (let level = 0; level < 6; level++) {
    for (let i = 0; i < 10; i++) lines.push(`-A ${level === 0 ? 'INPUT' : `L${level}`} -s 198.51.100.${i}/32 -j L${level + 1}`);
  }
  lines.push('-A L6 -s 192.0.2.0/24 -j DROP', '-A L6 -p tcp -m tcp --dport 5432 -j DROP', 'COMMIT', '');
  await ns.exec(['iptables-restore', '--noflush'], { input: lines.join('\n') });
  try {
    const r = await doctor();
    const warned = of(r.findings, 'firewall').filter((f) => f.status === 'warn');
    assert.deepEqual(
      warned.map((f) => f.fix),
      [
        'sudo iptables -D L6 -s 192.0.2.0/24 -j DROP  # if containers should reach it',
        'sudo iptables -D L6 -p tcp -m tcp --dport 5432 -j DROP  # if containers should reach it',
      ],
      JSON.stringify(of(r.findings, 'firewall')),
    );
  } finally {
    await ns.exec(['iptables-restore'], { input: saved });
  }
});

test('doctor --probe: a port that answers, one that refuses, one that drops; the container is removed', async () => {
  const open = await startReplyServer(ns, { host: '0.0.0.0', port: 18080 });
  const dropped = await startReplyServer(ns, { host: '0.0.0.0', port: 18082 });
  await ns.exec(['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '18082', '-j', 'DROP']);
  try {
    const t0 = Date.now();
    const r = await doctor('--probe', '18080', '18081', '18082', '--image', image);
    const ms = Date.now() - t0;
    const probe = of(r.findings, 'probe');
    const by = (re: RegExp) => probe.find((f) => re.test(f.message));
    for (const n of ['local_host', 'local', 'host.docker.internal'])
      assert.equal(by(new RegExp(`^${n.replace(/\./g, '\\.')} resolves to 10\\.254\\.254\\.254`))?.status, 'ok', JSON.stringify(probe));
    assert.equal(by(/^local_host:18080: connected/)?.status, 'ok', JSON.stringify(probe));
    const refused = by(/^local_host:18081: refused/);
    assert.equal(refused?.status, 'fail');
    assert.match(refused?.message ?? '', /nothing listens on port 18081/);
    const timeout = by(/^local_host:18082: timed out/);
    assert.equal(timeout?.status, 'fail');
    assert.equal(timeout?.fix, 'sudo iptables -D INPUT -p tcp -m tcp --dport 18082 -j DROP');
    assert.equal(open.connections.length, 3, 'one connection per name');
    assert.equal(dropped.connections.length, 0);
    assert.match(r.stderr, /probe: starting hostalias-doctor-/);
    assert.match(r.stderr, /probe: done in/);
    assert.equal(r.code, 1);
    const left = await d.docker(['ps', '-a', '-q', '--filter', 'label=hostalias.doctor=probe']);
    assert.equal(left.stdout.trim(), '', 'the probe container must be removed');
    process.stderr.write(`# doctor --probe (3 names × 3 ports, one dropped) took ${ms} ms\n`);
    await runFix(timeout?.fix ?? '');
    const again = of((await doctor('--probe', '18082', '--image', image)).findings, 'probe');
    assert.equal(again.find((f) => /^local_host:18082/.test(f.message))?.status, 'ok', JSON.stringify(again));
  } finally {
    await ns.exec(['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '18082', '-j', 'DROP'], { allowFail: true });
    await open.stop();
    await dropped.stop();
  }
});

test('doctor --probe: Ctrl-C removes the probe container', async () => {
  await ns.exec(['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '18083', '-j', 'DROP']);
  try {
    const child = ns.spawn([process.execPath, cliPath(), 'doctor', '--files-root', root, '--probe', '18083', '--image', image], { env: d.env });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    assert.ok(
      await waitFor(async () => (await d.docker(['ps', '-q', '--filter', 'label=hostalias.doctor=probe'])).stdout.trim() !== '', 20_000, 100),
      `probe container never started: ${stderr}`,
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    const left = await d.docker(['ps', '-a', '-q', '--filter', 'label=hostalias.doctor=probe']);
    assert.equal(left.stdout.trim(), '', 'the probe container must be removed after Ctrl-C');
  } finally {
    await ns.exec(['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '18083', '-j', 'DROP'], { allowFail: true });
  }
});

test('doctor: a connected subnet covering the alias → route-conflict fails; moving the alias fixes it', async () => {
  // A veth pair with both ends in the namespace (this kernel may lack the dummy module): a LAN-like link.
  await ns.exec(['ip', 'link', 'add', 'hadoc0', 'type', 'veth', 'peer', 'name', 'hadoc1']);
  await ns.exec(['ip', 'addr', 'add', '10.254.0.1/16', 'dev', 'hadoc0']);
  await ns.exec(['ip', 'link', 'set', 'hadoc1', 'up']);
  await ns.exec(['ip', 'link', 'set', 'hadoc0', 'up']);
  try {
    const r = await doctor();
    const f = of(r.findings, 'route-conflict')[0];
    assert.equal(f?.status, 'fail');
    assert.match(f?.message ?? '', /inside hadoc0's connected subnet 10\.254\.0\.1\/16/);
    assert.equal(f?.fix, cliFix(`up --ip 10.253.253.253 --files-root ${root}`));
    await runFix(f?.fix ?? '');
    const again = await doctor();
    assert.equal(worst(again.findings, 'route-conflict'), 'ok');
    assert.equal(worst(again.findings, 'alias'), 'ok');
  } finally {
    await ns.exec(['ip', 'link', 'del', 'hadoc0'], { allowFail: true });
  }
});

test('doctor: dockerd stopped → docker fails with the command that starts it; passes once it runs', async () => {
  process.kill(d.pid, 'SIGTERM');
  assert.ok(await waitFor(async () => (await d.docker(['version'], { allowFail: true, timeoutMs: 5000 })).code !== 0, 30_000, 200));
  const r = await doctor();
  assert.equal(r.code, 1);
  const f = of(r.findings, 'docker')[0];
  assert.equal(f?.status, 'fail');
  assert.match(f?.message ?? '', /no Docker engine answers at DOCKER_HOST=unix:\/\/\/tmp\/hal-/);
  assert.equal(f?.fix, `sudo dockerd -H ${d.host}  # or unset DOCKER_HOST to use the system engine`);
  // The lab starts its dockerd with its own data-root; restart() is that command.
  await d.restart();
  assert.equal(worst((await doctor()).findings, 'docker'), 'ok');
});
