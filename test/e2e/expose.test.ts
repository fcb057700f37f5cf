/**
 * `hostalias expose` / `unexpose`, the LAN guard and `down` with nftables, against the real
 * kernel and a real dockerd in namespaces this file creates (CLI always with --root).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { withNetns } from '../lab/netns.js';
import { ALIAS, eventually, ok, startExposeLab, startServers } from './expose-lab.js';

test('expose (nftables): 127.0.0.1-only services, source 127.0.0.1, LAN guard, late networks, boot, down', { timeout: 600_000 }, async (t) => {
  const lab = await startExposeLab(t, 'exnft');
  const srv = await startServers(lab);
  const before = await lab.routeLocalnet('docker0');
  // Makes the temp root look like a systemd system, so the boot units are written.
  await mkdir(join(lab.root, 'lib/systemd'), { recursive: true });
  await writeFile(join(lab.root, 'lib/systemd/systemd'), '');

  ok(await lab.cli(['up']), 'up');
  assert.equal(await lab.containerTcp(srv.local.port), '', 'a 127.0.0.1-only server refuses containers before expose');
  assert.equal(await lab.containerTcp(srv.any.port), 'any-ok', 'a 0.0.0.0 server answers containers on the alias');
  assert.equal(await lab.containerUdp(srv.udpPort), '', 'a 127.0.0.1-only UDP server does not answer before expose');
  assert.equal(await lab.lanReaches(srv.any.port), false, 'the LAN guard (on by default) keeps the LAN neighbour out');

  await t.test('expose makes 127.0.0.1 services answer containers, seen as from 127.0.0.1', async () => {
    const exp = await lab.cli(['expose', String(srv.local.port)]);
    ok(exp, 'expose');
    assert.match(exp.stdout, /firewall: nftables \(nft found\)/);
    ok(await lab.cli(['expose', `${srv.udpPort}/udp`]), 'expose udp');
    ok(await lab.cli(['expose', String(srv.keep.port), '--keep-source']), 'expose --keep-source');
    assert.equal(await lab.routeLocalnet('docker0'), 1, 'route_localnet is on for docker0');
    assert.equal(await lab.containerTcp(srv.local.port), 'local-ok');
    assert.equal(srv.local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the service sees 127.0.0.1');
    assert.equal(await lab.containerUdp(srv.udpPort), 'udp-from=127.0.0.1', 'UDP is DNATed and SNATed too');
    assert.equal(await lab.containerTcp(srv.keep.port), 'keep-ok');
    assert.match(srv.keep.connections.at(-1)?.remoteAddress ?? '', /^172\./, '--keep-source shows the container address');
  });

  await t.test('converged: exposing again and planning again change nothing', async () => {
    const again = await lab.cli(['expose', String(srv.local.port)]);
    ok(again, 'expose again');
    assert.match(again.stdout, /already exposed/);
    const plan = await lab.cli(['up', '--dry-run', '--json']);
    ok(plan, 'up --dry-run');
    assert.deepEqual((JSON.parse(plan.stdout) as { steps: unknown[] }).steps, []);
  });

  await t.test('the LAN neighbour reaches nothing on the alias; containers still do', async () => {
    assert.equal(await lab.lanReaches(srv.any.port), false, '0.0.0.0 service');
    assert.equal(await lab.lanReaches(srv.local.port), false, 'exposed port');
    assert.equal(await lab.containerTcp(srv.local.port), 'local-ok');
    ok(await lab.cli(['up', '--no-lan-guard']), 'up --no-lan-guard');
    assert.equal(await lab.lanReaches(srv.any.port), true, 'without the guard the neighbour does connect (the test is meaningful)');
    assert.equal(await lab.lanReaches(srv.local.port), false, 'exposed ports are DNATed only on container bridges');
    ok(await lab.cli(['up', '--lan-guard']), 'up --lan-guard');
    assert.equal(await lab.lanReaches(srv.any.port), false);
  });

  await t.test('a network created after expose: `refresh`, and the watcher hostalias-bridges.service runs', async () => {
    ok(await lab.d.docker(['network', 'create', 'late1']), 'network create');
    assert.equal(await lab.containerTcp(srv.local.port, 'late1'), '', 'unknown until refreshed: the guard drops it');
    const refresh = await lab.cli(['refresh']);
    ok(refresh, 'refresh');
    assert.equal(await lab.containerTcp(srv.local.port, 'late1'), 'local-ok');

    const watcher = lab.host.spawn([process.execPath, join(process.cwd(), 'dist/cli/main.js'), 'refresh', '--watch', '--root', lab.root], { env: lab.d.env });
    let log = '';
    watcher.stdout?.on('data', (b: Buffer) => (log += b.toString()));
    watcher.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      ok(await lab.d.docker(['network', 'create', 'late2']), 'network create');
      const started = Date.now();
      const reached = await eventually(async () => (await lab.containerTcp(srv.local.port, 'late2')) === 'local-ok', 15_000);
      assert.ok(reached, `a container on a network created while the watcher runs reaches the exposed port (watcher: ${log})`);
      t.diagnostic(`late network reachable ${Date.now() - started} ms after docker network create (incl. container start)`);
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  await t.test('boot: the units load the same rules in a fresh namespace', async (tt) => {
    const unit = await readFile(join(lab.root, 'etc/systemd/system/hostalias-firewall.service'), 'utf8');
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
    assert.deepEqual(exec, ['/usr/sbin/nft', '-f', '/etc/hostalias/firewall.nft']);
    assert.match(await readFile(join(lab.root, 'etc/systemd/system/hostalias-bridges.service'), 'utf8'), /^ExecStart=\S+ \S+main\.js refresh --watch$/m);
    const fresh = await withNetns(tt, 'exboot');
    await fresh.exec([exec[0] as string, exec[1] as string, join(lab.root, exec[2] as string)]);
    const live = (await lab.host.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout;
    const booted = (await fresh.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout;
    assert.equal(booted, live, 'the saved ruleset is the live one');
  });

  await t.test('unexpose refuses containers again', async () => {
    ok(await lab.cli(['unexpose', `${srv.local.port}/tcp`]), 'unexpose');
    assert.equal(await lab.containerTcp(srv.local.port), '');
    assert.equal(await lab.containerUdp(srv.udpPort), 'udp-from=127.0.0.1', 'other exposes stay');
    const bad = await lab.cli(['expose', '70000']);
    assert.equal(bad.code, 2, 'an out-of-range port is a usage error');
  });

  await t.test('down leaves no rule naming the alias and route_localnet as it was', async () => {
    ok(await lab.cli(['down']), 'down');
    const nft = (await lab.host.exec(['nft', 'list', 'ruleset'])).stdout;
    assert.doesNotMatch(nft, new RegExp(ALIAS.replace(/\./g, '\\.')));
    assert.doesNotMatch(nft, /hostalias/);
    const ipt = (await lab.host.exec(['iptables-save'])).stdout;
    assert.doesNotMatch(ipt, /10\.254\.254\.254|HOSTALIAS/);
    assert.equal(await lab.routeLocalnet('docker0'), before);
    assert.equal(await lab.containerUdp(srv.udpPort), '', 'nothing is exposed any more');
  });
});
