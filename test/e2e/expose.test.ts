/**
 * `hostalias expose` / `unexpose`, the LAN guard and `down` with nftables, against the real
 * kernel and a real dockerd in namespaces this file creates (CLI always with --root).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startReplyServer, tcpRequest, withNetns } from '../lab/netns.js';
import { ALIAS, ok, startExposeLab, startServers } from './expose-lab.js';

test('expose (nftables): 127.0.0.1-only services, source 127.0.0.1, LAN guard, late networks, the host itself, boot, down', { timeout: 600_000 }, async (t) => {
  const lab = await startExposeLab(t, 'exnft');
  const srv = await startServers(lab);
  const before = await lab.routeLocalnet('all');
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
    assert.equal(await lab.routeLocalnet('all'), 1, 'route_localnet is on (all: bridges created later too)');
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

  await t.test('networks created after expose reach it on the first try: no refresh, no watcher', async () => {
    for (const name of ['late1', 'late2', 'late3']) {
      ok(await lab.d.docker(['network', 'create', name]), `network create ${name}`);
      assert.equal(await lab.containerTcp(srv.local.port, name), 'local-ok', `${name}: exposed 127.0.0.1 port, first connection`);
      assert.equal(await lab.containerTcp(srv.any.port, name), 'any-ok', `${name}: 0.0.0.0 service on the alias`);
    }
    assert.equal(await lab.lanReaches(srv.local.port), false, 'the LAN neighbour still reaches nothing');
  });

  await t.test('the host itself reaches an exposed 127.0.0.1 service at ALIAS:PORT, seen as 127.0.0.1', async () => {
    const r = await tcpRequest(lab.host, ALIAS, srv.local.port, { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /local-ok/);
    assert.equal(srv.local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the SNAT applies to local clients too');
  });

  await t.test('several ports in one expose: one plan, all or nothing; unexpose likewise', async () => {
    const a = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'a-ok\n' });
    const b = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'b-ok\n' });
    const c = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'c-ok\n' });
    const bad = await lab.cli(['expose', String(a.port), String(b.port), '70000']);
    assert.equal(bad.code, 2, 'one bad port refuses them all');
    assert.equal(await lab.containerTcp(a.port), '', 'nothing was exposed');
    const dry = await lab.cli(['expose', String(a.port), String(b.port), String(c.port), '--dry-run', '--json']);
    ok(dry, 'dry run');
    const loads = (JSON.parse(dry.stdout) as { steps: Array<{ shell: string }> }).steps.filter((st) => /nft -f/.test(st.shell));
    assert.equal(loads.length, 1, 'one ruleset load for the three ports');
    ok(await lab.cli(['expose', String(a.port), String(b.port), String(c.port)]), 'expose three');
    assert.deepEqual([await lab.containerTcp(a.port), await lab.containerTcp(b.port), await lab.containerTcp(c.port)], ['a-ok', 'b-ok', 'c-ok']);
    ok(await lab.cli(['unexpose', String(a.port), String(b.port), String(c.port)]), 'unexpose three');
    assert.deepEqual([await lab.containerTcp(a.port), await lab.containerTcp(b.port), await lab.containerTcp(c.port)], ['', '', '']);
  });

  await t.test('boot: the units load the same rules in a fresh namespace', async (tt) => {
    const unit = await readFile(join(lab.root, 'etc/systemd/system/hostalias-firewall.service'), 'utf8');
    const starts = [...unit.matchAll(/^ExecStart=(.*)$/gm)].map((m) => m[1]);
    const exec = starts[0]?.split(' ') ?? [];
    assert.deepEqual(exec, ['/usr/sbin/nft', '-f', '/etc/hostalias/firewall.nft']);
    assert.equal(starts[1], '/usr/sbin/sysctl -q -w net.ipv4.conf.all.route_localnet=1', 'route_localnet after the rules');
    await assert.rejects(readFile(join(lab.root, 'etc/systemd/system/hostalias-bridges.service')), 'no watcher unit');
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
    assert.equal(await lab.routeLocalnet('all'), before);
    assert.equal((await tcpRequest(lab.host, ALIAS, srv.local.port, { timeoutMs: 2000 })).code === 0, false, 'the host no longer reaches it at the alias');
    assert.equal(await lab.containerUdp(srv.udpPort), '', 'nothing is exposed any more');
  });
});
