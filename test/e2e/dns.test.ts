/**
 * `up --dns` against a real dockerd in a lab namespace, with clients no one here wrote and no
 * hostalias flag: `docker run`, docker-compose with an unedited compose file on its own network,
 * Testcontainers' GenericContainer without withExtraHosts, and the Dev Containers CLI's
 * `devcontainer up` on a devcontainer.json naming only a local image. Each reaches a 127.0.0.1
 * service (exposed) by host.docker.internal. glibc's getent in a plain container gives the same
 * addresses as on the host for every name (the recorded ones, /etc/hosts, the split resolver's,
 * one nobody has). The resolver runs from the unit `up --dns` wrote. `down` gives daemon.json
 * back byte for byte. Port 53 taken: exit 3 naming who, nothing written.
 *
 * SAFETY: every address is inside namespaces this file creates (the alias, 127.0.0.2,
 * 198.51.100.53 on lo); containers' DNS goes to the alias, never off the namespace.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { stopChild, waitOutput } from '../lab/exec.js';
import { buildGetentImage, getentOnHost, getentScript, parseGetent } from '../lab/getent-image.js';
import { repoRoot, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { snapshot, tempRoot } from '../support/e2e.js';
import { ALIAS, ok } from './expose-lab.js';
import { dnsLab, dnsmasqMissing, FALLBACK_DNS, NAMES, startDnsmasq } from './dns-lab.js';

const TC_CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'dns-testcontainers-child.js');
const DEVCONTAINER = join(repoRoot(), 'node_modules', '@devcontainers', 'cli', 'devcontainer.js');
const originalDaemonJson = (root: string) => `{\n\t"labels": ["hostalias-dns=1"],\n\t"deprecated-key-path": "${root}/key.json"\n}\n`;

test('up --dns: docker run, docker-compose, Testcontainers and devcontainer up reach the host by name with no flag; getent agrees with the host; down restores', {
  timeout: 900_000,
  skip: dnsmasqMissing.length ? `missing: ${dnsmasqMissing.join(', ')}` : false,
}, async (t) => {
  const ns = await withNetns(t, 'dns');
  const lab = await dnsLab(t, ns, 'dns');
  const { root } = lab;
  const daemonJson = join(root, 'etc/docker/daemon.json');
  await mkdir(dirname(daemonJson), { recursive: true });
  await writeFile(daemonJson, originalDaemonJson(root));
  const d = await startDockerd(ns, { configFile: daemonJson });
  const image = await buildBusyboxImage(d);
  const cli = (args: string[]) => runCli(ns, [...args, '--files-root', root], { env: d.env, timeoutMs: 120_000 });

  const up = await cli(['up', '--dns']);
  ok(up, 'up --dns');
  assert.match(up.stdout, /containers started after the daemon restart ask the resolver/);
  assert.deepEqual(
    (JSON.parse(await readFile(daemonJson, 'utf8')) as { dns?: string[] }).dns,
    [ALIAS, FALLBACK_DNS],
    'the alias first, the host’s non-loopback server as fallback',
  );
  const again = await cli(['up', '--dns']);
  assert.match(again.stdout, /already up/, 're-planning after apply: no steps');
  const resolver = await lab.startResolver();
  await d.restart();
  const svc = await startReplyServer(ns, { host: '127.0.0.1', reply: 'host-ok\n' });
  ok(await cli(['expose', String(svc.port)]), 'expose');
  const nc = `sleep 1 | nc -w 5 host.docker.internal ${svc.port}`;

  await t.test('docker run with no flag reaches the exposed 127.0.0.1 service by host.docker.internal (default bridge and a user network)', async () => {
    const r = await d.docker(['run', '--rm', image, 'sh', '-c', nc], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(r.stdout.trim(), 'host-ok', r.stderr);
    await d.docker(['network', 'create', 'dnsnet']);
    const u = await d.docker(['run', '--rm', '--network', 'dnsnet', image, 'sh', '-c', nc], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(u.stdout.trim(), 'host-ok', `through Docker's embedded DNS: ${u.stderr}`);
  });

  await t.test('getent ahostsv4 gives the same addresses on the host and in a plain container, for every name', async () => {
    const getent = await buildGetentImage(d);
    const host = await getentOnHost(ns, root, NAMES);
    const inContainer = await d.docker(['run', '--rm', getent, 'sh', '-c', getentScript(NAMES)], { timeoutMs: 60_000 });
    // The host resolves the recorded names through the resolver too (they are in no file of its).
    const hostViaAlias = await ns.exec([
      'unshare',
      '--mount',
      '--',
      'sh',
      '-c',
      `printf 'nameserver ${ALIAS}\\n' > ${root}/resolv.alias && mount --bind ${root}/etc/hosts /etc/hosts && mount --bind ${root}/resolv.alias /etc/resolv.conf && ${getentScript(NAMES)}`,
    ]);
    t.diagnostic(`container:\n${inContainer.stdout}`);
    const expected = new Map([
      ['host.docker.internal', [ALIAS]],
      ['local_host', [ALIAS]],
      ['split.corp.example', ['198.51.100.7']],
      ['vpn-only.corp.example', ['198.51.100.8']],
      ['fromhosts.example', ['192.0.2.10']],
      ['fh', ['192.0.2.10']],
      ['multi.example', ['192.0.2.11', '192.0.2.12']],
      ['nothere.corp.example', []],
    ]);
    const c = parseGetent(inContainer.stdout);
    const h = parseGetent(host.stdout);
    const viaAlias = parseGetent(hostViaAlias.stdout);
    for (const name of NAMES) {
      assert.deepEqual(c.get(name), expected.get(name), `container: ${name}`);
      if (name !== 'host.docker.internal' && name !== 'local_host') assert.deepEqual(h.get(name), c.get(name), `host and container agree on ${name}`);
      assert.deepEqual(viaAlias.get(name), c.get(name), `the host asking the resolver agrees on ${name}`);
    }
  });

  await t.test('docker-compose with an unedited compose file that has its own network', async (tt) => {
    const dir = await mkdtemp(`${LAB_TMP_PREFIX}dnsco-`);
    tt.after(() => rm(dir, { recursive: true, force: true }));
    const compose = ['version: "3.8"', 'services:', '  app:', `    image: ${image}`, '    networks: [backend]', 'networks:', '  backend: {}', ''].join('\n');
    await writeFile(join(dir, 'compose.yaml'), compose);
    const dc = (args: string[]) =>
      ns.exec(['docker-compose', '-p', 'hadns', '-f', 'compose.yaml', ...args], { env: d.env, cwd: dir, timeoutMs: 120_000, allowFail: true });
    const r = await dc(['run', '--rm', '-T', 'app', 'sh', '-c', nc]);
    assert.equal(r.stdout.trim(), 'host-ok', r.stderr);
    assert.equal(await readFile(join(dir, 'compose.yaml'), 'utf8'), compose, 'the compose file is not touched');
    await dc(['down']);
  });

  await t.test('Testcontainers GenericContainer without withExtraHosts', async () => {
    const r = await ns.exec([process.execPath, TC_CHILD, image, String(svc.port)], {
      env: { ...d.env, TESTCONTAINERS_RYUK_DISABLED: 'true' },
      timeoutMs: 180_000,
      allowFail: true,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}'), { exitCode: 0, output: 'host-ok' });
  });

  await t.test(
    'devcontainer up on a devcontainer.json naming only a local image, then devcontainer exec',
    { skip: existsSync(DEVCONTAINER) ? false : 'npm ci installs @devcontainers/cli' },
    async (tt) => {
      const dir = await mkdtemp(`${LAB_TMP_PREFIX}dnsdc-`);
      tt.after(async () => {
        await d.docker(
          ['rm', '-f', ...(await d.docker(['ps', '-aq', '--filter', `label=devcontainer.local_folder=${dir}`])).stdout.split('\n').filter(Boolean)],
          { allowFail: true },
        );
        await rm(dir, { recursive: true, force: true });
      });
      await mkdir(join(dir, '.devcontainer'));
      await writeFile(join(dir, '.devcontainer', 'devcontainer.json'), `${JSON.stringify({ image })}\n`);
      const dev = (command: string, args: string[] = []) =>
        ns.exec([process.execPath, DEVCONTAINER, command, '--workspace-folder', dir, ...args], { env: d.env, timeoutMs: 300_000, allowFail: true });
      const upDc = await dev('up');
      assert.equal(upDc.code, 0, `${upDc.stdout}\n${upDc.stderr}`);
      const r = await dev('exec', ['sh', '-c', nc]);
      assert.equal(r.stdout.trim().split('\n').at(-1), 'host-ok', `${r.stdout}\n${r.stderr}`);
    },
  );

  await t.test('doctor: the dns check passes; the resolver killed fails it with a fix; the printed fix run makes it pass again; --probe agrees', async (tt) => {
    type Finding = { id: string; status: 'ok' | 'warn' | 'fail'; message: string; fix: string | null };
    const doctor = async (...args: string[]) => {
      const r = await cli(['doctor', '--json', ...args]);
      try {
        return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
      } catch {
        throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
      }
    };
    const of = (fs: Finding[], id: string) => fs.filter((f) => f.id === id);
    const names = (fs: Finding[]) => of(fs, 'probe').filter((f) => / (resolves|does not resolve)/.test(f.message));
    const allOk = (fs: Finding[], what: string) => {
      assert.ok(fs.length > 0, `${what}: no finding`);
      assert.deepEqual(
        fs.filter((f) => f.status !== 'ok'),
        [],
        what,
      );
    };

    const healthy = await doctor();
    const dns = of(healthy, 'dns');
    allOk(dns, 'dns with the resolver running');
    assert.ok(
      dns.some((f) => /^the resolver answers on 10\.254\.254\.254:53 \(udp and tcp\)/.test(f.message)),
      JSON.stringify(dns),
    );
    assert.ok(
      dns.some((f) => /^Docker \(rootful\): .*daemon\.json → 10\.254\.254\.254, 198\.51\.100\.53/.test(f.message)),
      JSON.stringify(dns),
    );
    assert.ok(
      dns.some((f) => /resolv\.conf is readable: the resolver forwards other names to 127\.0\.0\.2, 198\.51\.100\.53/.test(f.message)),
      JSON.stringify(dns),
    );
    const probed = await doctor('--probe', '--image', image);
    allOk(names(probed), 'the names in a plain container');
    assert.ok(
      names(probed).every((f) => f.message.endsWith('through the resolver (no --add-host)')),
      JSON.stringify(names(probed)),
    );

    // The resolver dies (no service manager runs in the lab to start it again).
    resolver.child.kill('SIGKILL');
    await stopChild(resolver.child);
    const down = await doctor();
    const failed = of(down, 'dns').filter((f) => f.status === 'fail');
    assert.equal(failed.length, 1, JSON.stringify(of(down, 'dns')));
    const f = failed[0] as Finding;
    tt.diagnostic(`resolver killed: ${f.message}\n  fix: ${f.fix}`);
    assert.match(f.message, /^nothing answers on 10\.254\.254\.254:53 \(refused: nothing listens there\), and no service manager runs here/);
    assert.match(f.fix ?? '', / resolver --listen 10\.254\.254\.254 --trust-iface docker0 .*--files-root /);
    assert.ok(!(f.fix ?? '').startsWith('sudo '), `as root the fix needs no sudo: ${f.fix}`);
    const probedDown = names(await doctor('--probe', '--image', image));
    tt.diagnostic(`--probe: ${probedDown.map((p) => `${p.message} (fix: ${p.fix})`).join('\n')}`);
    assert.ok(probedDown.length > 0 && probedDown.every((p) => p.status === 'fail'), JSON.stringify(probedDown));
    assert.match(probedDown[0]?.message ?? '', /does not resolve in a plain container: the container asks the alias, but the resolver gave no address/);

    // The printed fix, pasted as is (its comment included), in the namespace.
    const fixed = ns.spawn(['sh', '-c', `exec ${f.fix}`], { env: d.env });
    tt.after(() => stopChild(fixed, 3000));
    await waitOutput(fixed, 'listening', 30_000);
    allOk(of(await doctor(), 'dns'), 'dns with the resolver in the foreground');
    allOk(names(await doctor('--probe', '--image', image)), 'the names in a plain container, through the foreground resolver');
  });

  await t.test('down: the resolver unit is gone and daemon.json is byte-identical to before', async () => {
    ok(await cli(['down']), 'down');
    assert.equal(await readFile(daemonJson, 'utf8'), originalDaemonJson(root));
    assert.equal(existsSync(join(root, 'etc/systemd/system/hostalias-dns.service')), false);
    assert.equal(existsSync(join(root, 'usr/local/lib/hostalias')), false, 'the installed copy no unit runs any more is removed');
  });
});

test('up --dns with port 53 on every address already taken: exit 3 naming dnsmasq, nothing changed', {
  timeout: 120_000,
  skip: dnsmasqMissing.length ? `missing: ${dnsmasqMissing.join(', ')}` : false,
}, async (t) => {
  const ns = await withNetns(t, 'dns53');
  const root = await tempRoot(t, 'dns53');
  const env = { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-dns/docker.sock' };
  ok(await runCli(ns, ['up', '--files-root', root], { env }), 'up');
  await startDnsmasq(ns, root, 'wildcard');
  const before = await snapshot(root);
  const r = await runCli(ns, ['up', '--dns', '--files-root', root], { env });
  assert.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /port 53 on 10\.254\.254\.254 is already taken by dnsmasq\[\d+\]/);
  assert.deepEqual(await snapshot(root), before, 'nothing was written');
});
