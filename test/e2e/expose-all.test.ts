/**
 * `hostalias expose --all` with nftables against the real kernel and a real dockerd, in
 * namespaces this file creates (CLI with --files-root): services on 127.0.0.1 started after the
 * command answer plain containers over TCP and UDP with no per-port step; the Docker API ports and
 * --except are refused; the LAN neighbour reaches none of them; the host reaches ALIAS:PORT too;
 * one-by-one exposes keep working, `expose PORT` under --all changes nothing, `forward PORT` is
 * refused; a TCP service on ::1 only, started after the command, is reached through the loopback
 * relay that hostalias-serve.service runs (one process; without a service manager doctor names
 * the foreground way), also after the service is killed and run again; `unexpose --all` takes
 * back every rule.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stopChild, waitOutput } from '../lab/exec.js';
import { startReplyServer, tcpRequest } from '../lab/netns.js';
import { cliFix, execStart, rooted } from '../support/e2e.js';
import { rssKb } from '../support/forward-lab.js';
import { ALIAS, eventually, ok, startExposeLab, startUdpServer } from './expose-lab.js';

test('expose --all (nftables): every 127.0.0.1 port, TCP and UDP, also of services started later; kept-out ports, the LAN and unexpose --all', {
  timeout: 600_000,
}, async (t) => {
  const lab = await startExposeLab(t, 'exall');
  ok(await lab.cli(['up']), 'up');
  // A port exposed one by one before --all, to another loopback port: it keeps its own rule.
  const moved = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'moved-ok\n' });
  const movedPort = 30000 + (process.pid % 5000);
  ok(await lab.cli(['expose', String(movedPort), '--to', String(moved.port)]), 'expose --to');

  const all = await lab.cli(['expose', '--all', '--except', '2380,2381']);
  ok(all, 'expose --all');
  assert.match(all.stdout, /Containers and the host reach every port of the loopback at 10\.254\.254\.254:PORT/);
  assert.match(all.stdout, /kept out: 2375 \(the Docker\/Podman API without TLS: root on this host\), 2376 .*, 2380 \(--except\), 2381 \(--except\)/);
  assert.match(all.stdout, /listening now:/);

  await t.test('services started after the command answer containers at once: TCP and UDP on 127.0.0.1, seen as from 127.0.0.1', async () => {
    const tcp = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'late-tcp-ok\n' });
    assert.equal(await lab.containerTcp(tcp.port), 'late-tcp-ok');
    assert.equal(tcp.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the service sees 127.0.0.1');
    const udpPort = 41000 + (process.pid % 5000);
    await startUdpServer(lab.host, udpPort);
    assert.equal(await lab.containerUdp(udpPort), 'udp-from=127.0.0.1', 'UDP is DNATed and its source rewritten too');
    assert.equal(await lab.containerTcp(movedPort), 'moved-ok', 'the port exposed one by one (--to) keeps its rule');
  });

  await t.test('kept out: the Docker API port and --except ports refuse containers though a service listens on 127.0.0.1', async () => {
    for (const port of [2375, 2380]) {
      const srv = await startReplyServer(lab.host, { host: '127.0.0.1', port, reply: 'should-not-see\n' });
      assert.equal(await lab.containerTcp(port), '', `${port} is kept out`);
      assert.equal(srv.connections.length, 0);
      await srv.stop();
    }
  });

  await t.test('the host itself reaches ALIAS:PORT for any loopback port', async () => {
    const srv = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'host-ok\n' });
    const r = await tcpRequest(lab.host, ALIAS, srv.port, { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /host-ok/);
  });

  await t.test(
    'the LAN neighbour reaches none of these ports; without the guard it reaches a 0.0.0.0 service (the test is meaningful) but still no loopback one',
    async () => {
      const local = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'local\n' });
      const any = await startReplyServer(lab.host, { host: '0.0.0.0', reply: 'any\n' });
      assert.equal(await lab.lanReaches(local.port), false);
      assert.equal(await lab.lanReaches(any.port), false);
      ok(await lab.cli(['up', '--no-lan-guard']), 'up --no-lan-guard');
      assert.equal(await lab.lanReaches(any.port), true, 'without the guard the neighbour does connect to a 0.0.0.0 service');
      assert.equal(await lab.lanReaches(local.port), false, '--all rewrites only what comes from container bridges and the host');
      ok(await lab.cli(['up', '--lan-guard']), 'up --lan-guard');
      assert.equal(await lab.lanReaches(any.port), false);
      assert.equal(await lab.containerTcp(local.port), 'local', 'containers still reach it');
    },
  );

  await t.test('one command per port is not needed: `expose PORT` changes nothing and says so; `forward PORT` is refused with the fix', async () => {
    const srv = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'x\n' });
    const again = await lab.cli(['expose', String(srv.port), '--json']);
    ok(again, 'expose PORT under --all');
    const out = JSON.parse(again.stdout) as { changed: boolean; decisions: Array<{ coveredByAll?: boolean }> };
    assert.equal(out.changed, false);
    assert.equal(out.decisions[0]?.coveredByAll, true);
    const human = await lab.cli(['expose', String(srv.port)]);
    assert.match(human.stdout, /already reachable: 10\.254\.254\.254:\d+\/tcp through expose --all/);
    // The foreground relay and the installed one (as where systemd runs) alike.
    await mkdir(join(lab.root, 'run/systemd/system'), { recursive: true });
    t.after(() => rm(join(lab.root, 'run/systemd'), { recursive: true, force: true }));
    for (const args of [[], ['--install']]) {
      const fwd = await lab.cli(['forward', String(srv.port), ...args]);
      assert.equal(fwd.code, 3, `forward ${args.join(' ')}: ${fwd.stdout}${fwd.stderr}`);
      assert.match(fwd.stderr, /covered by `expose --all`/);
      assert.match(fwd.stderr, /expose --all --except \d+(,\d+)*/);
    }
    await rm(join(lab.root, 'run/systemd'), { recursive: true, force: true });
  });

  await t.test(
    'a TCP service on ::1 only, started after the command: the loopback relay of hostalias-serve.service carries it; killed and run again, the next connection works',
    async () => {
      const finding = async (port: number) => {
        const doctor = JSON.parse((await lab.cli(['doctor', '--json'])).stdout) as {
          findings: Array<{ id: string; status: string; message: string; fix: string | null }>;
        };
        return doctor.findings.find((x) => x.id === 'listeners' && x.message.includes(`[::1]:${port}`));
      };
      const early = await startReplyServer(lab.host, { host: '::1', reply: 'early-ok\n' });
      t.after(() => early.stop());
      // No service manager runs under this root: the loopback relay can't run as a unit, so the way that works is the port kept out and a foreground relay.
      const without = await finding(early.port);
      assert.equal(without?.status, 'warn', JSON.stringify(without));
      assert.match(without?.message ?? '', /expose --all rewrites .* to 127\.0\.0\.1/);
      const except = [2380, 2381, early.port].sort((a, b) => a - b).join(',');
      assert.equal(
        without?.fix,
        `${cliFix(`expose --all --except ${except} --files-root ${lab.root}`)}  # then run the relay in the foreground: ${cliFix(`forward ${early.port} --files-root ${lab.root}`)}`,
      );
      // As on a system where systemd runs: expose --all installed the unit, and this test starts what the unit would.
      await mkdir(join(lab.root, 'run/systemd/system'), { recursive: true });
      t.after(() => rm(join(lab.root, 'run/systemd'), { recursive: true, force: true }));
      const unit = readFileSync(join(lab.root, 'etc/systemd/system/hostalias-serve.service'), 'utf8');
      assert.match(unit, /^Restart=always$/m, 'systemd runs it again whatever ends it');
      assert.equal(
        readlinkSync(join(lab.root, 'etc/systemd/system/multi-user.target.wants/hostalias-serve.service')),
        '/etc/systemd/system/hostalias-serve.service',
      );
      const down = await finding(early.port);
      assert.equal(down?.status, 'warn', JSON.stringify(down));
      assert.match(down?.message ?? '', /loopback relay \(hostalias-serve\.service\) .* is not running/);
      assert.match(down?.fix ?? '', /systemctl restart hostalias-serve\.service/);
      const argv = [...rooted(execStart(unit), lab.root), '--files-root', lab.root];
      assert.deepEqual(argv.slice(2, 4), ['serve', '--ip']);
      let service = lab.host.spawn(argv);
      t.after(async () => void (await stopChild(service)));
      await waitOutput(service, 'serving (pid', 20_000);
      assert.ok(
        await eventually(async () => (await lab.containerTcp(early.port)) === 'early-ok', 10_000),
        'a ::1 service that listened before the relay started',
      );

      const v6 = await startReplyServer(lab.host, { host: '::1', reply: 'v6-ok\n' });
      const listened = Date.now();
      t.after(() => v6.stop());
      const host = async (port: number, reply: string) => {
        const r = await tcpRequest(lab.host, ALIAS, port, { timeoutMs: 2000 });
        return r.code === 0 && r.stdout.includes(reply);
      };
      assert.ok(await eventually(() => host(v6.port, 'v6-ok'), 10_000), 'the host reaches the new ::1 service at ALIAS:PORT');
      t.diagnostic(
        `a ::1 server reachable from the host ${Date.now() - listened} ms after its listen() (the watcher polls every 250 ms); RSS of the service process: ${(rssKb(service.pid as number) / 1024).toFixed(1)} MB`,
      );
      assert.equal(await lab.containerTcp(v6.port), 'v6-ok', 'a plain container reaches it');
      assert.equal(v6.connections.at(-1)?.remoteAddress, '::1', 'the service sees a local client');
      assert.equal(await lab.lanReaches(v6.port), false, 'the LAN neighbour does not');
      const table = (await lab.host.exec(['nft', 'list', 'set', 'inet', 'hostalias', 'relay_tcp'])).stdout;
      assert.match(table, new RegExp(`\\b${v6.port}\\b`), 'the watcher put the port in the relay set');
      const carried = await finding(v6.port);
      assert.equal(carried?.status, 'ok', JSON.stringify(carried));
      assert.match(carried?.message ?? '', /carried by expose --all's loopback relay/);
      const listed = (await lab.cli(['expose', '--all', '--except', '2380,2381'])).stdout;
      assert.match(listed, new RegExp(`tcp ${v6.port} on \\[::1\\] only: the loopback relay`), 'expose --all lists it as relayed');

      // SIGKILL, as a crash: nothing relays until it runs again (Restart=always); then the next connection works.
      service.kill('SIGKILL');
      await new Promise((r) => service.once('exit', r));
      assert.equal(await host(v6.port, 'v6-ok'), false, 'refused while the service is down');
      service = lab.host.spawn(argv);
      await waitOutput(service, 'serving (pid', 20_000);
      assert.ok(await eventually(() => host(v6.port, 'v6-ok'), 10_000), 'the service run again relays');
      assert.equal(await lab.containerTcp(v6.port), 'v6-ok');
      await stopChild(service);
      await rm(join(lab.root, 'run/systemd'), { recursive: true, force: true });
    },
  );

  await t.test('status shows it; planning again changes nothing', async () => {
    const status = await lab.cli(['status']);
    assert.match(status.stdout, /^exposed +every loopback port at 10\.254\.254\.254:PORT, TCP and UDP .*kept out: 2375, 2376, 2380, 2381$/m);
    const plan = await lab.cli(['up', '--dry-run', '--json']);
    ok(plan, 'up --dry-run');
    assert.deepEqual((JSON.parse(plan.stdout) as { steps: unknown[] }).steps, []);
    const same = await lab.cli(['expose', '--all', '--except', '2381,2380', '--json']);
    assert.equal((JSON.parse(same.stdout) as { changed: boolean }).changed, false, 'the same --except list: nothing to do');
  });

  await t.test('unexpose --all refuses containers again; the port exposed one by one stays', async () => {
    const srv = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'gone\n' });
    assert.equal(await lab.containerTcp(srv.port), 'gone');
    ok(await lab.cli(['unexpose', '--all']), 'unexpose --all');
    assert.equal(existsSync(join(lab.root, 'etc/systemd/system/hostalias-serve.service')), false, 'the loopback relay unit is removed');
    assert.equal(await lab.containerTcp(srv.port), '');
    assert.equal(await lab.containerTcp(movedPort), 'moved-ok');
    const table = (await lab.host.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout;
    assert.doesNotMatch(table, /relay_tcp|th dport != /, 'no rule of --all is left');
    const again = await lab.cli(['unexpose', '--all']);
    ok(again, 'unexpose --all again');
    assert.match(again.stdout, /expose --all is not on/);
  });

  ok(await lab.cli(['down']), 'down');
  assert.doesNotMatch((await lab.host.exec(['nft', 'list', 'ruleset'])).stdout, /hostalias/);
});
