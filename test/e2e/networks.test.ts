/**
 * Container networks created later, against the real kernel and a real dockerd in namespaces this file
 * creates: container networks made after `up` (plain `docker network create`, and a compose
 * project brought down and up twice, each time a new br-… bridge) reach the alias on the first
 * try with no refresh and no watcher, while LAN bridges that existed at `up` stay out: `br-lan`
 * (a bridge no engine reports) and `br-0123456789ab` (a Docker-looking name, but with a
 * non-veth port). Control: with --no-lan-guard the same neighbours do connect.
 *
 * SAFETY: neighbours are namespaces on 198.51.100.0/24 (TEST-NET-2) and 203.0.113.0/24
 * (TEST-NET-3) joined by veths to bridges inside the host namespace made here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { execArgv } from '../lab/exec.js';
import { runCli, startReplyServer, tcpRequest, withNetns, type Netns } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';
import { ALIAS, ok } from './expose-lab.js';

/** A neighbour namespace behind a bridge of the host namespace, routing the alias through the host. */
async function lanNeighbour(t: TestContext, host: Netns, bridge: string, net: string, tag: string, extraPort?: string): Promise<Netns> {
  const nb = await withNetns(t, tag);
  await host.exec(['ip', 'link', 'add', bridge, 'type', 'bridge']);
  await host.exec(['ip', 'addr', 'add', `${net}.1/24`, 'dev', bridge]);
  await host.exec(['ip', 'link', 'set', bridge, 'up']);
  const [hv, nv] = [`${tag.slice(0, 8)}h`, `${tag.slice(0, 8)}n`];
  await execArgv(['ip', '-n', host.name, 'link', 'add', hv, 'type', 'veth', 'peer', 'name', nv, 'netns', nb.name]);
  await host.exec(['ip', 'link', 'set', hv, 'master', bridge, 'up']);
  if (extraPort) {
    // A tap stands for a NIC or a VM on the bridge: any port that is not a container's veth makes it a LAN bridge.
    await host.exec(['ip', 'tuntap', 'add', extraPort, 'mode', 'tap']);
    await host.exec(['ip', 'link', 'set', extraPort, 'master', bridge, 'up']);
  }
  await nb.exec(['ip', 'addr', 'add', `${net}.2/24`, 'dev', nv]);
  await nb.exec(['ip', 'link', 'set', nv, 'up']);
  await nb.exec(['ip', 'route', 'add', `${ALIAS}/32`, 'via', `${net}.1`]);
  return nb;
}

test('networks: new Docker and compose networks reach the alias from the first packet; LAN bridges present at up stay out', { timeout: 600_000 }, async (t) => {
  const host = await withNetns(t, 'nets');
  const d = await startDockerd(host);
  t.after(() => d.stop());
  const image = await buildBusyboxImage(d);
  const root = await tempRoot(t, 'nets');
  const cli = (args: readonly string[]) => runCli(host, [...args, '--files-root', root], { env: d.env });
  const lan = await lanNeighbour(t, host, 'br-lan', '198.51.100', 'netslan');
  const fake = await lanNeighbour(t, host, 'br-0123456789ab', '203.0.113', 'netsfake', 'nic0');
  const any = await startReplyServer(host, { host: '0.0.0.0', reply: 'any-ok\n' });
  const local = await startReplyServer(host, { host: '127.0.0.1', reply: 'local-ok\n' });
  const reaches = async (nb: Netns, port: number) => (await tcpRequest(nb, ALIAS, port, { timeoutMs: 1500 })).code === 0;
  // A Docker network whose bridge also has a tap (a VM, a NIC) when `up` runs: LAN, though Docker reports it.
  ok(await d.docker(['network', 'create', 'tapped']), 'network create tapped');
  const tapped = `br-${(await d.docker(['network', 'inspect', '--format', '{{.Id}}', 'tapped'])).stdout.trim().slice(0, 12)}`;
  await host.exec(['ip', 'tuntap', 'add', 'nic1', 'mode', 'tap']);
  await host.exec(['ip', 'link', 'set', 'nic1', 'master', tapped, 'up']);

  const up = await cli(['up']);
  ok(up, 'up');
  assert.match(up.stdout, /not .*br-0123456789ab \(has a port that is not a container's veth: nic0\)/);
  assert.match(up.stdout, /br-lan \(no container engine reports it/);
  assert.match(up.stdout, new RegExp(`${tapped} \\(has a port that is not a container's veth: nic1\\)`));
  ok(await cli(['expose', String(local.port)]), 'expose');
  const first = async (network: string, port: number) => {
    const r = await d.docker(['run', '--rm', '--network', network, image, 'sh', '-c', `sleep 1 | nc -w 2 ${ALIAS} ${port}`], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    return r.stdout.trim();
  };

  await t.test('three networks created after up: first connection, no refresh, no watcher', async () => {
    for (const name of ['n1', 'n2', 'n3']) {
      ok(await d.docker(['network', 'create', name]), `network create ${name}`);
      assert.equal(await first(name, any.port), 'any-ok', `${name}: 0.0.0.0 service`);
      assert.equal(await first(name, local.port), 'local-ok', `${name}: exposed 127.0.0.1 service`);
    }
  });

  await t.test('a compose project brought down and up twice: each new bridge works at once', async () => {
    const dir = await mkdtemp(`${LAB_TMP_PREFIX}compose-`);
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'compose.yaml'),
      ['version: "3.8"', 'services:', '  app:', `    image: ${image}`, `    command: ["sh", "-c", "sleep 1 | nc -w 2 ${ALIAS} ${local.port}"]`, ''].join('\n'),
    );
    const dc = (args: string[]) => host.exec(['docker-compose', '-p', 'hanets', ...args], { env: d.env, cwd: dir, timeoutMs: 180_000, allowFail: true });
    const bridges = new Set<string>();
    try {
      for (let round = 1; round <= 2; round++) {
        assert.equal((await dc(['up', '--no-start'])).code, 0, `compose up #${round}`);
        const id = (await d.docker(['network', 'inspect', '--format', '{{.Id}}', 'hanets_default'])).stdout.trim();
        bridges.add(`br-${id.slice(0, 12)}`);
        const run = await dc(['run', '--rm', '-T', 'app']);
        assert.equal(run.stdout.trim(), 'local-ok', `round ${round}: the compose network's first connection reaches the exposed port (${run.stderr})`);
        assert.equal((await dc(['down'])).code, 0, `compose down #${round}`);
      }
    } finally {
      await dc(['down']);
    }
    assert.equal(bridges.size, 2, 'each round made a new bridge');
  });

  await t.test('LAN bridges present at up reach nothing; with --no-lan-guard they do (control)', async () => {
    for (const [name, nb] of [
      ['br-lan', lan],
      ['br-0123456789ab (Docker-like name, a non-veth port)', fake],
    ] as const) {
      assert.equal(await reaches(nb, any.port), false, `${name}: 0.0.0.0 service`);
      assert.equal(await reaches(nb, local.port), false, `${name}: exposed port`);
    }
    ok(await cli(['up', '--no-lan-guard']), 'up --no-lan-guard');
    assert.equal(await reaches(lan, any.port), true, 'control: without the guard the br-lan neighbour connects');
    assert.equal(await reaches(fake, any.port), true, 'control: and so does the one behind the Docker-looking bridge');
    assert.equal(await reaches(lan, local.port), false, 'exposed ports are never DNATed for a LAN bridge');
    ok(await cli(['up', '--lan-guard']), 'up --lan-guard');
    assert.equal(await reaches(lan, any.port), false);
  });

  await t.test('--allow-iface lets one LAN bridge in, explicitly', async () => {
    ok(await cli(['up', '--allow-iface', 'br-lan']), 'allow br-lan');
    assert.equal(await reaches(lan, any.port), true, 'br-lan allowed');
    assert.equal(await reaches(fake, any.port), false, 'the other stays out');
  });

  await t.test('doctor names the container network whose traffic the guard drops, and --allow-iface lets it in', async () => {
    assert.equal(await first('tapped', any.port), '', 'a container on the tapped network is dropped by the guard');
    const doc = await cli(['doctor', '--json']);
    const findings = (JSON.parse(doc.stdout) as { findings: Array<{ id: string; status: string; message: string; fix?: string }> }).findings;
    const f = findings.find((x) => x.id === 'firewall' && x.message.startsWith('network tapped'));
    assert.equal(f?.status, 'fail', doc.stdout);
    assert.match(f?.message ?? '', new RegExp(`network tapped \\(bridge ${tapped}\\): hostalias's LAN guard drops its traffic`));
    assert.match(f?.fix ?? '', new RegExp(`up --allow-iface ${tapped}`));
    ok(await cli(['up', '--allow-iface', tapped]), 'allow the tapped bridge');
    assert.equal(await first('tapped', any.port), 'any-ok');
  });

  ok(await cli(['down']), 'down');
  assert.equal(await first('n1', local.port), '', 'after down nothing reaches the exposed port');
});
