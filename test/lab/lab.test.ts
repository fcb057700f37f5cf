/**
 * Proves the end-to-end lab itself: namespaces, a private dockerd per namespace,
 * the busybox image, containers reaching the namespace "host", and cleanup.
 *
 * Needs root, iproute2, nsenter, dockerd/containerd and /bin/busybox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execArgv, pidAlive } from './exec.js';
import { mountsUnder, pidsWithArg, sweepStaleLab } from './cleanup.js';
import { cliPath, createNetns, linkNetns, repoRoot, runCli, startReplyServer, tcpRequest, withNetns } from './netns.js';
import type { Netns } from './netns.js';
import { buildBusyboxImage, LAB_DEBIAN_PACKAGES, labPrerequisites, networkGateway, startDockerd } from './dockerd.js';
import type { Dockerd } from './dockerd.js';

/** Root-namespace interfaces and addresses: must be identical before and after. */
async function rootNetSnapshot(): Promise<string> {
  const r = await execArgv(['ip', '-o', 'addr', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => l.replace(/\s+valid_lft.*$/, '').trim())
    .filter((l) => l !== '')
    .sort()
    .join('\n');
}

async function netnsNames(): Promise<string[]> {
  const r = await execArgv(['ip', 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((s) => s !== '');
}

async function assertGone(ns: Netns, d: Dockerd, pid: number): Promise<void> {
  assert.equal(pidAlive(pid), false, `dockerd pid ${pid} still alive`);
  assert.equal(existsSync(d.dir), false, `${d.dir} still exists`);
  assert.deepEqual(mountsUnder(d.dir), [], 'mounts left under the dockerd dir');
  assert.deepEqual(pidsWithArg(`${d.dir}/`).filter(pidAlive), [], 'containerd/shim processes left');
  assert.equal(existsSync(ns.path), false, `${ns.path} still exists`);
  assert.equal((await netnsNames()).includes(ns.name), false, `${ns.name} still listed`);
}

test('lab: prerequisites are installed', () => {
  assert.deepEqual(labPrerequisites(), [], `install: apt-get install -y ${LAB_DEBIAN_PACKAGES.join(' ')}`);
});

test('lab: sweep leftovers of dead runs', () => {
  const removed = sweepStaleLab();
  // Nothing to assert about the count: this only must not throw or touch live resources.
  assert.ok(Array.isArray(removed.netns) && Array.isArray(removed.dirs));
});

test('lab: containers on docker0 and on a user bridge reach a server in the namespace', async (t) => {
  const rootBefore = await rootNetSnapshot();
  const keyBefore = existsSync('/etc/docker/key.json');
  const ns = await withNetns(t, 'lab');
  assert.equal((await ns.exec(['ip', 'route', 'show'])).stdout.trim(), '', 'fresh netns must have no routes');

  const d = await startDockerd(ns);
  t.diagnostic(`dockerd start: ${d.startMs} ms`);
  const info = await d.docker(['info', '--format', '{{.Driver}} {{.CgroupDriver}} {{.ServerVersion}}']);
  t.diagnostic(`docker info: ${info.stdout.trim()}`);
  const ver = await d.docker(['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}']);
  t.diagnostic(`API versions client/server: ${ver.stdout.trim()}`);

  let t0 = Date.now();
  const image = await buildBusyboxImage(d);
  t.diagnostic(`busybox image build+import: ${Date.now() - t0} ms`);
  t0 = Date.now();
  assert.equal(await buildBusyboxImage(d), image);
  t.diagnostic(`busybox image (already there): ${Date.now() - t0} ms`);

  const srv = await startReplyServer(ns, { port: 8080, reply: 'hello\n' });
  assert.equal(srv.port, 8080);

  // docker0
  const gw = await networkGateway(d);
  assert.match(gw, /^\d+\.\d+\.\d+\.\d+$/);
  const docker0 = await ns.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'docker0']);
  assert.ok(docker0.stdout.includes(` ${gw}/`), `docker0 in ${ns.name} should carry ${gw}: ${docker0.stdout}`);
  t0 = Date.now();
  const r1 = await d.docker(['run', '--rm', image, 'nc', '-w', '5', gw, '8080'], { timeoutMs: 60_000 });
  t.diagnostic(`docker run --rm (docker0 → ${gw}:8080): ${Date.now() - t0} ms`);
  assert.equal(r1.stdout.trim(), 'hello');

  // user-defined bridge network
  t0 = Date.now();
  await d.docker(['network', 'create', 'labnet']);
  t.diagnostic(`docker network create: ${Date.now() - t0} ms`);
  const gw2 = await networkGateway(d, 'labnet');
  assert.notEqual(gw2, gw);
  t0 = Date.now();
  const r2 = await d.docker(['run', '--rm', '--network', 'labnet', image, 'nc', '-w', '5', gw2, '8080'], {
    timeoutMs: 60_000,
  });
  t.diagnostic(`docker run --rm (labnet → ${gw2}:8080): ${Date.now() - t0} ms`);
  assert.equal(r2.stdout.trim(), 'hello');
  // From the user bridge to docker0's address: still the namespace's own address.
  const r3 = await d.docker(['run', '--rm', '--network', 'labnet', image, 'nc', '-w', '5', gw, '8080'], {
    timeoutMs: 60_000,
  });
  assert.equal(r3.stdout.trim(), 'hello');

  assert.equal(srv.connections.length, 3);
  assert.ok(srv.connections.every((c) => c.remoteAddress.replace(/^::ffff:/, '') !== '127.0.0.1'));

  // A running container left behind must not slow down or break the cleanup.
  await d.docker(['run', '-d', '--name', 'sleeper', image, 'sleep', '1000']);
  await d.docker(['run', '-d', '--network', 'labnet', image, 'sleep', '1000']);

  // Nothing leaked into the root namespace.
  const rootLinks = await execArgv(['ip', 'link', 'show', 'docker0'], { allowFail: true });
  assert.notEqual(rootLinks.code, 0, 'docker0 must not exist in the root namespace');
  assert.equal(await rootNetSnapshot(), rootBefore, 'root namespace interfaces/addresses changed');
  if (!keyBefore) assert.equal(existsSync('/etc/docker/key.json'), false, 'dockerd wrote /etc/docker/key.json');

  const pid = d.pid;
  t0 = Date.now();
  await ns.destroy(); // stops dockerd first (onDestroy), then deletes the namespace
  t.diagnostic(`teardown (2 running containers): ${Date.now() - t0} ms`);
  await assertGone(ns, d, pid);
  await ns.destroy(); // idempotent
  await d.stop(); // idempotent
});

test('lab: two dockerds in two namespaces run at the same time', async (t) => {
  let t0 = Date.now();
  const [nsA, nsB] = await Promise.all([withNetns(t, 'pa'), withNetns(t, 'pb')]);
  const [dA, dB] = await Promise.all([startDockerd(nsA), startDockerd(nsB, { daemonJson: { labels: ['lab=b'] } })]);
  t.diagnostic(`two dockerds started in parallel: ${Date.now() - t0} ms (A ${dA.startMs} ms, B ${dB.startMs} ms)`);
  assert.notEqual(dA.pid, dB.pid);
  assert.notEqual(dA.host, dB.host);

  const [imgA, imgB] = await Promise.all([buildBusyboxImage(dA), buildBusyboxImage(dB)]);
  const [srvA, srvB] = await Promise.all([startReplyServer(nsA, { port: 9000, reply: 'from-a\n' }), startReplyServer(nsB, { port: 9000, reply: 'from-b\n' })]);
  const [gwA, gwB] = await Promise.all([networkGateway(dA), networkGateway(dB)]);
  // Both daemons pick the same default subnet: proof that each has its own network stack.
  assert.equal(gwA, gwB);
  t0 = Date.now();
  const [ra, rb] = await Promise.all([
    dA.docker(['run', '--rm', imgA, 'nc', '-w', '5', gwA, '9000'], { timeoutMs: 60_000 }),
    dB.docker(['run', '--rm', imgB, 'nc', '-w', '5', gwB, '9000'], { timeoutMs: 60_000 }),
  ]);
  t.diagnostic(`two containers run in parallel: ${Date.now() - t0} ms`);
  assert.equal(ra.stdout.trim(), 'from-a');
  assert.equal(rb.stdout.trim(), 'from-b');
  assert.equal(srvA.connections.length, 1);
  assert.equal(srvB.connections.length, 1);

  // Each daemon sees only its own containers / config.
  const labelsB = await dB.docker(['info', '--format', '{{json .Labels}}']);
  assert.deepEqual(JSON.parse(labelsB.stdout) as unknown, ['lab=b']);
  const labelsA = await dA.docker(['info', '--format', '{{json .Labels}}']);
  assert.deepEqual(JSON.parse(labelsA.stdout) as unknown, []);

  // restart() picks up an edited config file (what a CLI that rewrites daemon.json needs).
  const cfg = JSON.parse(await readFile(dA.configFile, 'utf8')) as Record<string, unknown>;
  await writeFile(dA.configFile, JSON.stringify({ ...cfg, labels: ['lab=a2'] }));
  await dA.docker(['run', '-d', '--init', '--restart', 'always', '--name', 'keep', imgA, 'sleep', '1000']);
  const oldPid = dA.pid;
  t0 = Date.now();
  await dA.restart();
  t.diagnostic(`dockerd restart (1 container with --restart always): ${Date.now() - t0} ms`);
  assert.notEqual(dA.pid, oldPid);
  assert.equal(pidAlive(oldPid), false);
  assert.deepEqual(JSON.parse((await dA.docker(['info', '--format', '{{json .Labels}}'])).stdout) as unknown, ['lab=a2']);
  const keep = await dA.docker(['inspect', '--format', '{{.State.Running}}', 'keep']);
  assert.equal(keep.stdout.trim(), 'true');

  const pids = [dA.pid, dB.pid];
  t0 = Date.now();
  await Promise.all([nsA.destroy(), nsB.destroy()]);
  t.diagnostic(`teardown of both: ${Date.now() - t0} ms`);
  await assertGone(nsA, dA, pids[0] ?? -1);
  await assertGone(nsB, dB, pids[1] ?? -1);
});

test('lab: a dockerd that cannot start reports its log and leaves nothing behind', async (t) => {
  const ns = await withNetns(t, 'bad');
  let dirSeen: string | undefined;
  await assert.rejects(startDockerd(ns, { daemonJson: { 'no-such-option-for-dockerd': true }, startTimeoutMs: 20_000 }), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /dockerd log tail/);
    assert.match(e.message, /no-such-option-for-dockerd/);
    dirSeen = /(\/tmp\/hal-[A-Za-z0-9]+)\//.exec(e.message)?.[1];
    return true;
  });
  const leftovers = (await execArgv(['ps', '-eo', 'pid=,args='])).stdout
    .split('\n')
    .filter((l) => l.includes(`--net=${ns.path}`) || (dirSeen !== undefined && l.includes(dirSeen)));
  assert.deepEqual(leftovers, []);
  assert.ok(dirSeen !== undefined, 'the error should name the dockerd dir');
  assert.equal(existsSync(dirSeen), false);
});

test('lab: linkNetns joins two namespaces (LAN neighbour)', async (t) => {
  const [a, b] = await Promise.all([createNetns('lana'), createNetns('lanb')]);
  t.after(() => Promise.all([a.destroy(), b.destroy()]).then(() => undefined));
  const link = await linkNetns(a, b, '198.51.100.1/24', '198.51.100.2/24');
  assert.ok(link.aIf.length <= 15 && link.bIf.length <= 15);
  const srv = await startReplyServer(b, { host: link.bIp, reply: 'neighbour\n' });
  const r = await tcpRequest(a, link.bIp, srv.port);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'neighbour\n');
  assert.equal(srv.connections[0]?.remoteAddress, link.aIp);
  // Off-link destinations stay unreachable: a lab namespace has no default route.
  const off = await a.exec(['ip', 'route', 'get', '203.0.113.1'], { allowFail: true });
  assert.notEqual(off.code, 0);
  await srv.stop();
});

test('lab: runCli runs node on the built CLI inside the namespace', async (t) => {
  const ns = await withNetns(t, 'cli');
  const root = repoRoot();
  assert.ok(existsSync(join(root, 'package.json')));
  assert.equal(cliPath(), join(root, 'dist', 'cli', 'main.js'));
  const r = await runCli(ns, ['--help']);
  assert.equal(typeof r.code, 'number');
  if (!existsSync(cliPath())) {
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot find module|ERR_MODULE_NOT_FOUND/);
  }
});
