/**
 * `--root DIR` prepares an image: it writes the system's files under DIR and touches no running
 * kernel. `--files-root DIR` is the other mode: this namespace changes, files go under DIR.
 * Both run the same commands in two fresh namespaces; the image's namespace must be unchanged and
 * both folders must hold the same system files.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, withNetns, type Netns } from '../lab/netns.js';
import { readTree } from '../support/rooted.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

/** What a change to the running system would show: addresses, routes, packet filter, route_localnet. */
async function liveState(ns: Netns): Promise<Record<string, string>> {
  const run = async (argv: string[]) => (await ns.exec(argv, { allowFail: true })).stdout;
  const conf = (await run(['sysctl', '-a', '--pattern', 'route_localnet'])).split('\n').sort().join('\n');
  return {
    addresses: await run(['ip', '-j', 'addr', 'show']),
    routes: await run(['ip', '-j', 'route', 'show', 'table', 'all']),
    nft: await run(['nft', 'list', 'ruleset']),
    iptables: await run(['iptables-save']),
    routeLocalnet: conf,
  };
}

const COMMANDS: string[][] = [
  ['up', '--persist', 'systemd', '--hosts-file', '--names', 'local_host,api.local'],
  // --via kernel: an image reads no listeners, so both modes are told the path (expose decides by them).
  ['expose', '5432', '--via', 'kernel'],
];

/** The system files, without hostalias's own records (journal timestamps, the live values it saw). */
function systemFiles(tree: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tree).filter(([path]) => !path.startsWith('/var/lib/hostalias/')));
}

test('up --root writes the same files as --files-root and leaves the namespace untouched', async (t) => {
  const imageNs = await withNetns(t, 'image');
  const liveNs = await withNetns(t, 'imglive');
  const image = await tempRoot(t, 'image');
  const files = await tempRoot(t, 'imglive');

  // The image has its own packet filter installed (what --root looks for, never the running one's).
  await mkdir(join(image, 'usr/sbin'), { recursive: true });
  await writeFile(join(image, 'usr/sbin/nft'), '', { mode: 0o755 });
  const before = await liveState(imageNs);
  for (const args of COMMANDS) {
    const r = await runCli(imageNs, [...args, '--root', image]);
    assert.equal(r.code, 0, `${args.join(' ')} --root: ${r.stderr}`);
    const l = await runCli(liveNs, [...args, '--files-root', files]);
    assert.equal(l.code, 0, `${args.join(' ')} --files-root: ${l.stderr}`);
  }
  assert.deepEqual(await liveState(imageNs), before, 'no address, route, rule or sysctl changed in the namespace');
  // The control: the same commands with --files-root do change their namespace.
  assert.ok((await loAddrs(liveNs)).includes('10.254.254.254/32 lo:hostalias'));
  assert.match((await liveNs.exec(['nft', 'list', 'ruleset'])).stdout, /table inet hostalias/);

  const imageTree = systemFiles(await readTree(image));
  delete imageTree['/usr/sbin/nft'];
  assert.deepEqual(imageTree, systemFiles(await readTree(files)), 'the same system files under both folders');
  assert.ok(imageTree['/etc/systemd/system/hostalias.service'], 'the boot unit is in the image');
  assert.match(imageTree['/etc/hosts'] ?? '', /10\.254\.254\.254\tlocal_host api\.local/);
  assert.match(imageTree['/etc/hostalias/firewall.nft'] ?? '', /table inet hostalias/);

  const again = await runCli(imageNs, ['up', '--root', image]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already up/, 'planning again converges: nothing left to do in the image');

  const dry = await runCli(imageNs, ['down', '--root', image, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.doesNotMatch(dry.stdout, /^\$ (ip|nft|sysctl|iptables)/m, 'no command for the running system is planned');
  const down = await runCli(imageNs, ['down', '--root', image]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    Object.keys(systemFiles(await readTree(image))).filter((p) => p !== '/etc/hosts' && p !== '/usr/sbin/nft'),
    [],
    'down removes what up wrote',
  );
  assert.deepEqual(await liveState(imageNs), before, 'down --root did not touch the namespace either');
});

test('--root and --files-root together are refused (exit 2)', async (t) => {
  const ns = await withNetns(t, 'imgboth');
  const a = await tempRoot(t, 'imgboth-a');
  const r = await runCli(ns, ['up', '--root', a, '--files-root', a, '--dry-run']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--root and --files-root exclude each other/);
});

/**
 * Folders of an image linked out of it: every link is followed inside DIR, as the image itself
 * will follow it when it boots (an absolute target is a path of the image, `..` stops at its
 * root), so neither `up` nor `down` reads or writes anything outside DIR.
 */
test('--root and --files-root: links in DIR that point out of it are followed inside DIR; nothing outside is written', async (t) => {
  const ns = await withNetns(t, 'rootlinks');
  for (const mode of ['--root', '--files-root']) {
    const dir = await tempRoot(t, 'rootlinks');
    const outside = await tempRoot(t, 'rootlinks-out');
    for (const d of ['sys', 'docker', 'hosts-dir', 'lib']) await mkdir(join(outside, d));
    await writeFile(join(outside, 'hosts-dir/hosts'), '127.0.0.1\tlocalhost # outside\n');
    await mkdir(join(dir, 'etc/systemd'), { recursive: true });
    await mkdir(join(dir, 'var'), { recursive: true });
    // Absolute links (a path of the host, or of the image), and a relative one climbing above DIR.
    await symlink(join(outside, 'sys'), join(dir, 'etc/systemd/system'));
    await symlink(join(outside, 'hosts-dir/hosts'), join(dir, 'etc/hosts'));
    await symlink(`${'../'.repeat(12)}${outside.slice(1)}/docker`, join(dir, 'etc/docker'));
    await symlink(join(outside, 'lib'), join(dir, 'var/lib'));
    const before = await readTree(outside, { withStat: true });
    const up = await runCli(ns, ['up', mode, dir, '--persist', 'systemd', '--hosts-file', '--docker-daemon'], {
      env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-rootlinks.sock' },
    });
    assert.equal(up.code, 0, `${mode}: ${up.stderr}`);
    assert.deepEqual(await readTree(outside, { withStat: true }), before, `${mode} up: nothing outside DIR changed`);
    // Where the image will find them: the links resolved inside DIR.
    const inside = join(dir, outside);
    assert.match(await readFile(join(inside, 'sys/hostalias.service'), 'utf8'), /^ExecStart=\/usr\/sbin\/ip addr replace 10\.254\.254\.254\/32 dev lo/m);
    assert.match(await readFile(join(inside, 'docker/daemon.json'), 'utf8'), /"host-gateway-ip": "10\.254\.254\.254"/);
    assert.match(await readFile(join(inside, 'hosts-dir/hosts'), 'utf8'), /10\.254\.254\.254\tlocal_host/);
    assert.ok((await readFile(join(inside, 'lib/hostalias/state.json'), 'utf8')).includes('"dockerDaemon": true'));
    const down = await runCli(ns, ['down', mode, dir], { env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/hostalias-rootlinks.sock' } });
    assert.equal(down.code, 0, `${mode} down: ${down.stderr}`);
    assert.deepEqual(await readTree(outside, { withStat: true }), before, `${mode} down: nothing outside DIR changed`);
    assert.doesNotMatch(await readFile(join(inside, 'hosts-dir/hosts'), 'utf8'), /hostalias/, 'down removed the block where up wrote it');
  }
});

test('--root: a loop of links in DIR is refused with the path, nothing written', async (t) => {
  const ns = await withNetns(t, 'rootloop');
  const dir = await tempRoot(t, 'rootloop');
  await mkdir(join(dir, 'etc/systemd'), { recursive: true });
  // A link back to itself. (Not the absolute `/etc/systemd/system`, which is the same loop inside DIR:
  // a build without this check would follow it to this machine's own folder.)
  await symlink('../systemd/system', join(dir, 'etc/systemd/system'));
  const r = await runCli(ns, ['up', '--root', dir, '--persist', 'systemd']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /refusing to use .*\/etc\/systemd\/system\/hostalias\.service: more than 40 symbolic links on the way \(a loop, inside /);
  assert.match(r.stderr, /\n {2}fix: fix the links under /);
  assert.deepEqual(
    Object.keys(await readTree(dir)).filter((p) => !p.startsWith('/var/lib/hostalias/')),
    ['/etc/systemd/system'],
    'nothing written',
  );
});
