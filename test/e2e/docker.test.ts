/**
 * Docker integration against a real dockerd. One namespace and ONE dockerd for the
 * whole file: the dockerd reads its daemon.json from the --files-root folder the CLI edits, so
 * `up --docker-daemon` + a restart is the real thing. The CLI always runs inside the namespace
 * with --files-root on a temp folder and DOCKER_HOST pointing at this dockerd. Containers connect to
 * two servers in the namespace: one on 0.0.0.0, one bound to the alias only.
 * dockerd here is Debian's 20.10, so only the "host-gateway-ip" key is proven end to end; the
 * Engine 28 key ("host-gateway-ips") is covered by test/unit/docker-daemon.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { raceTimeout, TIMEOUT } from '../lab/exec.js';
import { loAddrs, tempRoot, cliFix } from '../support/e2e.js';

const ALIAS = '10.254.254.254';
const NAMES = ['local_host', 'local', 'host.docker.internal'];
/** Deliberately odd formatting: `down` must give back exactly these bytes. */
/**
 * The user's daemon.json before `up --docker-daemon`. `deprecated-key-path` keeps dockerd 20.10
 * from creating /etc/docker/key.json on this machine (it has no flag for that, only this key).
 */
const originalDaemonJson = (root: string) => `{\n\t"labels": ["hostalias-e2e=1"],\n\t"deprecated-key-path": "${root}/key.json",\n\t"debug":false\n}\n`;

/** A shell script that prints "<reply from :8080> <reply from alias:8081>" per name. */
function probe(names: readonly string[]): string[] {
  return ['sh', '-c', names.map((n) => `echo "${n} $(nc -w 5 ${n} 8080) $(nc -w 5 ${n} 8081)"`).join('; ')];
}
const reached = (names: readonly string[]) => names.map((n) => `${n} any alias`).join('\n');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

test('docker integration: run, flags, compose, daemon host-gateway, down', async (t) => {
  const ns = await withNetns(t, 'dock');
  const root = await tempRoot(t, 'dock');
  const daemonJson = join(root, 'etc/docker/daemon.json');
  await mkdir(join(root, 'etc/docker'), { recursive: true });
  await writeFile(daemonJson, originalDaemonJson(root));
  const d = await startDockerd(ns, { configFile: daemonJson });
  t.diagnostic(`dockerd start: ${d.startMs} ms`);
  const image = await buildBusyboxImage(d);
  const cli = (args: string[], cwd?: string) => runCli(ns, args, { env: d.env, timeoutMs: 120_000, cwd });

  const upRes = await cli(['up', '--files-root', root]);
  assert.equal(upRes.code, 0, `${upRes.stdout}\n${upRes.stderr}`);
  assert.ok((await loAddrs(ns)).includes(`${ALIAS}/32 lo:hostalias`));
  await startReplyServer(ns, { host: '0.0.0.0', port: 8080, reply: 'any' });
  const aliasOnly = await startReplyServer(ns, { host: ALIAS, port: 8081, reply: 'alias' });
  assert.equal(aliasOnly.host, ALIAS);

  await t.test('hostalias run: every default name reaches both servers', async () => {
    const r = await cli(['run', '--files-root', root, '--rm', image, ...probe(NAMES)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), reached(NAMES));
    assert.equal(r.stderr, '', 'no warning: the alias is up');
  });

  await t.test('docker run $(hostalias flags): every default name reaches both servers', async () => {
    const f = await cli(['flags', '--files-root', root]);
    assert.equal(f.code, 0, f.stderr);
    const flags = f.stdout.trim().split(/\s+/);
    assert.deepEqual(
      flags,
      NAMES.map((n) => `--add-host=${n}:${ALIAS}`),
    );
    const r = await d.docker(['run', ...flags, '--rm', image, ...probe(NAMES)], { timeoutMs: 60_000 });
    assert.equal(r.stdout.trim(), reached(NAMES));
  });

  await t.test('a container on a user-defined bridge network reaches the alias like one on docker0', async () => {
    await d.docker(['network', 'create', 'usernet']);
    // The LAN guard (on by default) admits Docker's bridges by name; on a real host
    // hostalias-bridges.service runs this on every network event (`hostalias refresh --watch`).
    const refresh = await cli(['refresh', '--files-root', root]);
    assert.equal(refresh.code, 0, refresh.stderr);
    const r = await cli(['run', '--files-root', root, '--network', 'usernet', '--rm', image, ...probe(NAMES)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), reached(NAMES));
  });

  await t.test("run: exit status passes through, the user's own --add-host wins", async () => {
    const r = await cli([
      'run',
      '--files-root',
      root,
      '--add-host',
      'local:192.0.2.77',
      '--rm',
      image,
      'sh',
      '-c',
      'grep -E "\\s(local|local_host)$" /etc/hosts; exit 3',
    ]);
    assert.equal(r.code, 3, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+/g, ' '));
    assert.deepEqual(lines.sort(), [`${ALIAS} local_host`, '192.0.2.77 local'].sort());
  });

  await t.test('run: SIGTERM to hostalias reaches the container; its exit status comes back', async () => {
    const script = 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.2; done';
    const child = ns.spawn([process.execPath, cliPath(), 'run', '--files-root', root, '--rm', image, 'sh', '-c', script], { env: d.env });
    let out = '';
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const ready = new Promise<void>((resolve) =>
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    assert.notEqual(await raceTimeout(ready, 60_000), TIMEOUT, `the container started (stdout ${out}, stderr ${err})`);
    child.kill('SIGTERM');
    const code = await raceTimeout(exited, 30_000);
    assert.notEqual(code, TIMEOUT, 'hostalias run exited after SIGTERM');
    assert.equal(code, 42);
    assert.match(out, /got-term/);
  });

  await t.test('timing: hostalias run vs docker run (median of 3)', async () => {
    const hostalias: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < 3; i++) {
      let t0 = Date.now();
      assert.equal((await d.docker(['run', '--rm', image, 'true'])).code, 0);
      plain.push(Date.now() - t0);
      t0 = Date.now();
      assert.equal((await cli(['run', '--files-root', root, '--rm', image, 'true'])).code, 0);
      hostalias.push(Date.now() - t0);
    }
    t.diagnostic(
      `docker run --rm true: ${median(plain)} ms; hostalias run --rm true: ${median(hostalias)} ms (node start + state + ip probe: +${median(hostalias) - median(plain)} ms)`,
    );
  });

  const compose = [
    'version: "3.8"',
    "# the user's comment",
    'services:',
    '  app:',
    `    image: ${image}`,
    '    extra_hosts:',
    '      - "db.example:192.0.2.5"   # user entry',
    '  mapped:',
    `    image: ${image}`,
    '    extra_hosts:',
    '      cache.example: 192.0.2.6',
    '  hostnet:',
    `    image: ${image}`,
    '    network_mode: host',
    '',
  ].join('\n');
  const dc = (cwd: string, args: string[]) => ns.exec(['docker-compose', '-p', 'haco', ...args], { env: d.env, cwd, timeoutMs: 120_000, allowFail: true });

  await t.test('compose override works with docker-compose v1 (-f compose -f override run), list and map forms', async (tt) => {
    const dir = await mkdtemp(`${LAB_TMP_PREFIX}co-`);
    tt.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'compose.yaml'), compose);
    const r = await cli(['compose', '--files-root', root], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /docker compose -f compose\.yaml -f compose\.hostalias\.yaml up/);
    assert.match(r.stdout, /skipped service "hostnet": network_mode: host/);
    const files = ['-f', 'compose.yaml', '-f', 'compose.hostalias.yaml'];
    // Create the project network first and let the LAN guard admit it, as hostalias-bridges.service would.
    const created = await dc(dir, [...files, 'up', '--no-start']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await cli(['refresh', '--files-root', root])).code, 0);
    const app = await dc(dir, [...files, 'run', '--rm', '-T', 'app', 'sh', '-c', `grep -c "db.example" /etc/hosts; ${probe(NAMES)[2] ?? ''}`]);
    assert.equal(app.code, 0, app.stderr);
    assert.equal(app.stdout.trim(), `1\n${reached(NAMES)}`, 'own entry kept, every name reaches (compose project network = user-defined bridge)');
    const mapped = await dc(dir, [...files, 'run', '--rm', '-T', 'mapped', 'sh', '-c', `grep -c "cache.example" /etc/hosts; ${probe(['local'])[2] ?? ''}`]);
    assert.equal(mapped.code, 0, mapped.stderr);
    assert.equal(mapped.stdout.trim(), `1\n${reached(['local'])}`);
    await dc(dir, [...files, 'down']);
  });

  await t.test('compose --in-place keeps the comments, keeps a backup, and works', async (tt) => {
    const dir = await mkdtemp(`${LAB_TMP_PREFIX}ci-`);
    tt.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'compose.yaml'), compose);
    const r = await cli(['compose', '--in-place', '--files-root', root], dir);
    assert.equal(r.code, 0, r.stderr);
    const edited = await readFile(join(dir, 'compose.yaml'), 'utf8');
    assert.match(edited, /# the user's comment/);
    assert.match(edited, /# user entry/);
    assert.equal(await readFile(join(dir, 'compose.yaml.hostalias.bak'), 'utf8'), compose);
    assert.equal((await dc(dir, ['-f', 'compose.yaml', 'up', '--no-start'])).code, 0);
    assert.equal((await cli(['refresh', '--files-root', root])).code, 0);
    const app = await dc(dir, ['-f', 'compose.yaml', 'run', '--rm', '-T', 'app', ...probe(['host.docker.internal'])]);
    assert.equal(app.code, 0, app.stderr);
    assert.equal(app.stdout.trim(), reached(['host.docker.internal']));
    const again = await cli(['compose', '--in-place', '--files-root', root], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(dir, 'compose.yaml'), 'utf8'), edited, 'a second run changes nothing');
    await dc(dir, ['-f', 'compose.yaml', 'down']);
  });

  await t.test('malformed compose file: exit 2 with line and column, nothing written', async (tt) => {
    const dir = await mkdtemp(`${LAB_TMP_PREFIX}cb-`);
    tt.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: [x\n');
    const r = await cli(['compose', '--files-root', root], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /compose\.yaml:4:1: invalid YAML/);
    assert.deepEqual((await ns.exec(['ls', '-A', dir])).stdout.trim().split('\n'), ['compose.yaml']);
  });

  await t.test('up --docker-daemon + dockerd restart: --add-host=x:host-gateway reaches the alias', async () => {
    const r = await cli(['up', '--files-root', root, '--docker-daemon']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"host-gateway-ip" because the engine is 20\.10/);
    assert.match(`${r.stdout}${r.stderr}`, /systemctl restart docker/);
    const written = JSON.parse(await readFile(daemonJson, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, { labels: ['hostalias-e2e=1'], 'deprecated-key-path': `${root}/key.json`, debug: false, 'host-gateway-ip': ALIAS });
    const again = await cli(['up', '--files-root', root]);
    assert.match(again.stdout, /already up/, 'idempotent');
    const t0 = Date.now();
    await d.restart();
    t.diagnostic(`dockerd restart with the new daemon.json: ${Date.now() - t0} ms`);
    const gw = await d.docker(['run', '--rm', '--add-host=x:host-gateway', image, 'sh', '-c', 'grep -E "\\sx$" /etc/hosts; nc -w 5 x 8081'], {
      timeoutMs: 60_000,
    });
    assert.equal(gw.stdout.trim().replace(/\s+/g, ' '), `${ALIAS} x alias`);
    const userNet = await d.docker(['run', '--rm', '--network', 'usernet', '--add-host=x:host-gateway', image, 'nc', '-w', '5', 'x', '8081'], {
      timeoutMs: 60_000,
    });
    assert.equal(userNet.stdout.trim(), 'alias');
  });

  await t.test('down: the names no longer reach, daemon.json is byte-identical to before', async () => {
    const r = await cli(['down', '--files-root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(daemonJson, 'utf8'), originalDaemonJson(root));
    assert.ok(!(await loAddrs(ns)).some((a) => a.startsWith(ALIAS)), 'alias gone from lo');
    // --dns 127.0.0.1: a name not in /etc/hosts fails at once instead of waiting for DNS.
    const plain = await d.docker(['run', '--rm', '--dns', '127.0.0.1', image, 'nc', '-w', '3', 'local_host', '8080'], { allowFail: true, timeoutMs: 60_000 });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /bad address 'local_host'/);
    const viaRun = await cli(['run', '--files-root', root, '--rm', image, 'nc', '-w', '3', 'local_host', '8081']);
    assert.notEqual(viaRun.code, 0, 'the name resolves but nothing answers');
    assert.match(viaRun.stderr, /warning: hostalias is not set up/);
    const f = await cli(['flags', '--files-root', root]);
    assert.equal(f.code, 0);
    assert.ok(f.stderr.includes(`until you run: ${cliFix(`up --files-root ${root}`)}\n`), f.stderr);
  });
});
