/**
 * The iptables fallback (`--firewall iptables`, what `auto` picks where nft is missing): same
 * semantics as nftables, checked against the real kernel and a real dockerd.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tcpRequest } from '../lab/netns.js';
import { snapshot } from '../support/e2e.js';
import { ALIAS, ok, startExposeLab, startServers } from './expose-lab.js';

test('expose (iptables): containers reach 127.0.0.1 services, the LAN does not, down cleans up', { timeout: 300_000 }, async (t) => {
  const lab = await startExposeLab(t, 'exipt');
  const srv = await startServers(lab);
  const before = await lab.routeLocalnet('all');

  const up = await lab.cli(['up', '--firewall', 'iptables']);
  ok(up, 'up');
  assert.match(up.stdout, /firewall: iptables \(nf_tables\) \(chosen with --firewall\)|firewall: iptables \(legacy\) \(chosen with --firewall\)/);
  assert.equal(await lab.containerTcp(srv.local.port), '', 'refused before expose');
  assert.equal(await lab.lanReaches(srv.any.port), false, 'guard on');

  ok(await lab.cli(['expose', String(srv.local.port)]), 'expose tcp');
  ok(await lab.cli(['expose', `${srv.udpPort}/udp`]), 'expose udp');
  const save = (await lab.host.exec(['iptables-save'])).stdout;
  assert.match(save, /-A HOSTALIAS-DNAT -d 10\.254\.254\.254\/32 -i docker0 -p tcp -m tcp --dport \d+ -j DNAT --to-destination 127\.0\.0\.1:\d+/);
  assert.equal((await lab.host.exec(['nft', 'list', 'tables'])).stdout.includes('inet hostalias'), false, 'no nftables table of ours');
  assert.equal(await lab.containerTcp(srv.local.port), 'local-ok');
  assert.equal(srv.local.connections.at(-1)?.remoteAddress, '127.0.0.1');
  assert.equal(await lab.containerUdp(srv.udpPort), 'udp-from=127.0.0.1');
  assert.equal(await lab.lanReaches(srv.local.port), false, 'LAN: exposed port');
  assert.equal(await lab.lanReaches(srv.any.port), false, 'LAN: 0.0.0.0 service');

  // expose --all is written for nftables: refused with the fix, and nothing changes.
  const files = await snapshot(lab.root);
  const rules = (await lab.host.exec(['iptables-save'])).stdout.replace(/^#.*\n/gm, '');
  const all = await lab.cli(['expose', '--all']);
  assert.equal(all.code, 7, all.stdout + all.stderr);
  assert.match(all.stderr, /expose --all needs nftables, and the firewall here is iptables/);
  assert.match(all.stderr, /fix: .*expose the ports one by one/);
  assert.deepEqual(await snapshot(lab.root), files, 'no file changed');
  assert.equal((await lab.host.exec(['iptables-save'])).stdout.replace(/^#.*\n/gm, ''), rules, 'no rule changed');

  const again = await lab.cli(['up', '--dry-run', '--json']);
  ok(again, 'plan again');
  assert.deepEqual((JSON.parse(again.stdout) as { steps: unknown[] }).steps, [], 'converged: planning again returns no steps');
  ok(await lab.d.docker(['network', 'create', 'late']), 'network create');
  assert.equal(await lab.containerTcp(srv.local.port, 'late'), 'local-ok', 'a network created after expose (br-+) reaches it on the first try');
  const self = await tcpRequest(lab.host, ALIAS, srv.local.port, { timeoutMs: 5000 });
  assert.match(self.stdout, /local-ok/, 'the host itself reaches ALIAS:PORT (nat OUTPUT)');
  assert.equal(srv.local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'seen as 127.0.0.1 (SNAT at POSTROUTING on lo)');

  ok(await lab.cli(['up', '--no-lan-guard']), 'no guard');
  assert.equal(await lab.lanReaches(srv.any.port), true, 'without the guard the LAN neighbour connects (the test is meaningful)');
  ok(await lab.cli(['up', '--lan-guard']), 'guard again');

  ok(await lab.cli(['unexpose', String(srv.local.port)]), 'unexpose');
  assert.equal(await lab.containerTcp(srv.local.port), '', 'refused again after unexpose');

  ok(await lab.cli(['down']), 'down');
  const after = (await lab.host.exec(['iptables-save'])).stdout + (await lab.host.exec(['nft', 'list', 'ruleset'])).stdout;
  assert.doesNotMatch(after, new RegExp(`${ALIAS.replace(/\./g, '\\.')}|HOSTALIAS|hostalias`));
  assert.equal(await lab.routeLocalnet('all'), before, 'route_localnet as it was');
});
