/**
 * "After a reboot": a fresh namespace stands in for the rebooted machine, and the test runs what the
 * boot would run with the artifact `up` wrote under --root: the systemd unit's ExecStart lines,
 * Debian's ifup on the generated stanza, the real systemd-networkd on the .network file, and
 * `netplan generate` + systemd-networkd on the netplan YAML. Here the NetworkManager keyfile is
 * only parsed; networkmanager.test.ts runs the real NetworkManager on it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { execArgv } from '../lab/exec.js';
import { runCli, withNetns } from '../lab/netns.js';
import type { Netns } from '../lab/netns.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

const ALIAS = '10.254.254.254/32 lo:hostalias';

/** Runs `up --root ROOT --persist KIND` in a throwaway namespace, so the artifact exists but nothing else does. */
async function install(t: Parameters<typeof withNetns>[0], root: string, kind: string): Promise<void> {
  const ns = await withNetns(t, `inst${kind}`);
  const r = await runCli(ns, ['up', '--files-root', root, '--persist', kind]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await loAddrs(ns)).includes(ALIAS));
}

/** A freshly "booted" namespace: lo down, with only the 127.0.0.1/8 the kernel gives it. */
async function bootedNetns(t: Parameters<typeof withNetns>[0], tag: string): Promise<Netns> {
  const ns = await withNetns(t, tag);
  await ns.exec(['ip', 'link', 'set', 'lo', 'down']);
  assert.deepEqual(await loAddrs(ns), ['127.0.0.1/8 lo'], 'no alias before the boot steps run');
  return ns;
}

/** Minimal INI reader for systemd / NetworkManager files: section → key → values (keys may repeat). */
function parseIni(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1] ?? '';
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0 && section !== '', `not an INI line: ${raw}`);
    ((out[section] ??= {})[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

test('systemd: the unit is valid and its ExecStart lines bring the alias back in a fresh namespace', async (t) => {
  const root = await tempRoot(t, 'rb-sysd');
  await install(t, root, 'systemd');
  const unitPath = join(root, 'etc/systemd/system/hostalias.service');
  const unit = await readFile(unitPath, 'utf8');
  const ini = parseIni(unit);
  assert.deepEqual(ini['Unit']?.['DefaultDependencies'], ['no']);
  assert.deepEqual(ini['Unit']?.['Wants'], ['network-pre.target']);
  assert.deepEqual(ini['Unit']?.['Before']?.[0]?.split(' ').sort(), ['docker.service', 'network-pre.target']);
  assert.deepEqual(ini['Service']?.['Type'], ['oneshot']);
  assert.deepEqual(ini['Service']?.['RemainAfterExit'], ['yes']);
  assert.deepEqual(ini['Install']?.['WantedBy'], ['multi-user.target']);
  assert.equal(
    await execArgv(['readlink', join(root, 'etc/systemd/system/multi-user.target.wants/hostalias.service')]).then((r) => r.stdout.trim()),
    '/etc/systemd/system/hostalias.service',
  );

  // systemd's own parser: it prints "file:line: …" for anything it can't use.
  const verify = await execArgv(['systemd-analyze', 'verify', unitPath], { allowFail: true });
  assert.equal(verify.code, 0, verify.stderr);
  assert.doesNotMatch(verify.stderr, /hostalias\.service:\d+:/, verify.stderr);

  const toArgv = (line: string) => line.replace(/^[-@+!]+/, '').split(' ');
  const starts = (ini['Service']?.['ExecStart'] ?? []).map(toArgv);
  const stops = (ini['Service']?.['ExecStop'] ?? []).map(toArgv);
  assert.ok(starts.length > 0 && starts.every((argv) => argv[0]?.startsWith('/')), 'systemd needs absolute paths');

  const booted = await bootedNetns(t, 'rbsysd');
  await booted.exec(['ip', 'link', 'set', 'lo', 'up']); // the kernel's own loopback setup, before units run
  for (const argv of starts) await booted.exec(argv);
  assert.deepEqual(await loAddrs(booted), ['127.0.0.1/8 lo', ALIAS]);
  for (const argv of stops) await booted.exec(argv);
  assert.deepEqual(await loAddrs(booted), ['127.0.0.1/8 lo'], 'ExecStop removes exactly the alias');
});

for (const [variant, original] of [
  ['Debian default with an `iface lo inet loopback` stanza', '# interfaces(5) file used by ifup(8) and ifdown(8)\nauto lo\niface lo inet loopback\n'],
  ['no lo stanza (hostalias adds one)', '# nothing for lo here\n'],
] as const) {
  test(`ifupdown (${variant}): Debian's ifup brings the alias back, ifdown removes it`, async (t) => {
    const root = await tempRoot(t, 'rb-ifud');
    const interfaces = join(root, 'etc/network/interfaces');
    await mkdir(join(root, 'etc/network'), { recursive: true });
    await writeFile(interfaces, original);
    await install(t, root, 'ifupdown');
    assert.match(await readFile(interfaces, 'utf8'), /^ {4}up \/usr\/sbin\/ip addr replace 10\.254\.254\.254\/32 dev lo label lo:hostalias$/m);

    const booted = await bootedNetns(t, 'rbifud');
    const stateDir = join(root, 'ifstate');
    await mkdir(stateDir);
    // --no-scripts: don't run this machine's /etc/network/if-*.d hooks inside the test namespace.
    const args = ['-i', interfaces, '--state-dir', stateDir, '--no-scripts', 'lo'];
    const up = await booted.exec(['ifup', '-v', ...args], { allowFail: true });
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await loAddrs(booted), ['127.0.0.1/8 lo', ALIAS]);
    const down = await booted.exec(['ifdown', '-v', ...args], { allowFail: true });
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!(await loAddrs(booted)).includes(ALIAS), 'ifdown removed the alias');
    assert.ok((await loAddrs(booted)).includes('127.0.0.1/8 lo'), 'and did not flush lo (no `address` keyword)');
  });
}

/**
 * Runs the real systemd-networkd in the namespace with a private mount namespace whose
 * /etc/systemd/network (and /run/systemd/network) are folders from the test root; waits until lo has
 * the alias, then stops it. /sys is remounted read-only there so networkd doesn't wait for udev.
 */
async function runNetworkd(ns: Netns, dirs: { etc?: string; run?: string }): Promise<{ code: number; out: string }> {
  const script = [
    'set -e',
    'mount -t sysfs -o ro sysfs /sys',
    'mount -t tmpfs tmpfs /run/systemd',
    'mkdir -p /run/systemd/netif /run/systemd/network',
    'chown systemd-network: /run/systemd/netif',
    dirs.etc ? `mount --bind "${dirs.etc}" /etc/systemd/network` : 'mount -t tmpfs tmpfs /etc/systemd/network',
    dirs.run ? `mount --bind "${dirs.run}" /run/systemd/network` : ':',
    '/lib/systemd/systemd-networkd & pid=$!',
    'i=0; while [ $i -lt 50 ] && ! ip -o addr show dev lo | grep -q "10.254.254.254/32"; do sleep 0.2; i=$((i+1)); done',
    'kill $pid; wait $pid || true',
    'ip -o addr show dev lo | grep -q "10.254.254.254/32"',
  ].join('\n');
  const r = await execArgv(['unshare', '--mount', '--propagation', 'private', '--', 'nsenter', `--net=${ns.path}`, '--', 'sh', '-c', script], {
    allowFail: true,
    timeoutMs: 30_000,
  });
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
}

test('systemd-networkd: the real networkd applies the .network file to lo in a fresh namespace', async (t) => {
  const root = await tempRoot(t, 'rb-nwd');
  await install(t, root, 'networkd');
  const file = join(root, 'etc/systemd/network/10-hostalias-lo.network');
  const ini = parseIni(await readFile(file, 'utf8'));
  assert.deepEqual(ini, { Match: { Name: ['lo'] }, Network: { Address: ['10.254.254.254/32'] } });

  const booted = await bootedNetns(t, 'rbnwd');
  const r = await runNetworkd(booted, { etc: join(root, 'etc/systemd/network') });
  assert.equal(r.code, 0, r.out);
  assert.ok(
    (await loAddrs(booted)).some((a) => a.startsWith('10.254.254.254/32')),
    r.out,
  );
});

test('netplan: the YAML says what the issue asks, `netplan generate` renders it and networkd applies it', async (t) => {
  const root = await tempRoot(t, 'rb-npl');
  await install(t, root, 'netplan');
  const path = join(root, 'etc/netplan/90-hostalias.yaml');
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'netplan refuses world-readable configs');
  const doc = parseYaml(await readFile(path, 'utf8')) as {
    network: { version: number; renderer: string; ethernets: { lo: { match: { name: string }; addresses: string[] } } };
  };
  assert.equal(doc.network.version, 2);
  assert.equal(doc.network.renderer, 'networkd');
  assert.deepEqual(doc.network.ethernets.lo.addresses, ['10.254.254.254/32']);
  assert.equal(doc.network.ethernets.lo.match.name, 'lo');

  const gen = await execArgv(['netplan', 'generate', '--root-dir', root], { allowFail: true });
  assert.equal(gen.code, 0, gen.stderr);
  const rendered = join(root, 'run/systemd/network/10-netplan-lo.network');
  assert.ok(existsSync(rendered), gen.stderr);
  const ini = parseIni(await readFile(rendered, 'utf8'));
  assert.deepEqual(ini['Match']?.['Name'], ['lo']);
  assert.deepEqual(ini['Network']?.['Address'], ['10.254.254.254/32']);

  const booted = await bootedNetns(t, 'rbnpl');
  const r = await runNetworkd(booted, { run: join(root, 'run/systemd/network') });
  assert.equal(r.code, 0, r.out);
  assert.ok(
    (await loAddrs(booted)).some((a) => a.startsWith('10.254.254.254/32')),
    r.out,
  );
});

test('NetworkManager: the keyfile parses as a loopback profile with the /32 (the real NetworkManager runs in networkmanager.test.ts)', async (t) => {
  const root = await tempRoot(t, 'rb-nm');
  await install(t, root, 'networkmanager');
  const path = join(root, 'etc/NetworkManager/system-connections/hostalias-lo.nmconnection');
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'NetworkManager ignores keyfiles others can read');
  const ini = parseIni(await readFile(path, 'utf8'));
  assert.deepEqual(ini['connection']?.['type'], ['loopback']);
  assert.deepEqual(ini['connection']?.['interface-name'], ['lo']);
  assert.deepEqual(ini['connection']?.['autoconnect'], ['true']);
  assert.match(ini['connection']?.['uuid']?.[0] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(ini['ipv4'], { method: ['manual'], address1: ['10.254.254.254/32'] });
});
