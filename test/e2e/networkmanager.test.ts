/**
 * NetworkManager persistence against the real NetworkManager (Debian 12: 1.42.4).
 *
 * `up --files-root R --persist networkmanager` writes the keyfile; then a fresh network namespace stands in
 * for the rebooted machine and the real NetworkManager "boots" in it, inside a private mount
 * namespace: its own tmpfs /run (own D-Bus system bus, no service activation), a read-only sysfs of
 * that namespace (so NM does not wait for udev), a temp /etc/NetworkManager whose
 * system-connections/ is R's folder, a tmpfs /var/lib/NetworkManager, and `dns=none`,
 * `hostname-mode=none` so it touches neither resolv.conf nor the host name (also a private UTS
 * namespace). Nothing of this machine's networking, /etc or /run is seen or changed.
 * Then `down --files-root R` plus the `nmcli connection reload` that `down` runs on a live system must
 * drop the profile and the alias while lo keeps 127.0.0.1/8 and stays up.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { execArgv } from '../lab/exec.js';
import { cliPath, runCli, withNetns } from '../lab/netns.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

const ALIAS_IP = '10.254.254.254';
const KEYFILE = 'etc/NetworkManager/system-connections/hostalias-lo.nmconnection';

const NM_CONF = `[main]
plugins=keyfile
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=false
`;

/** A system bus for NM and nmcli only: no <servicedir>, so nothing (hostnamed, dispatcher) is ever activated. */
const DBUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

/**
 * Runs inside `nsenter --net=NS unshare --mount --uts --propagation private`. $1 lab dir, $2 the
 * --root, $3 node, $4 the CLI. Prints `@@KEY value` lines for the test; NM's debug log goes to $1/nm.log.
 */
const SCRIPT = String.raw`set -eu
lab=$1 root=$2 node=$3 cli=$4
mount -t tmpfs tmpfs /run
mkdir -p /run/dbus
mount -t sysfs -o ro sysfs /sys
mount --bind "$lab/etc" /etc/NetworkManager
mount --bind "$root/etc/NetworkManager/system-connections" /etc/NetworkManager/system-connections
mount -t tmpfs tmpfs /var/lib/NetworkManager
nm=; bus=
stop() { [ -z "$nm" ] || kill $nm 2>/dev/null || true; [ -z "$nm" ] || wait $nm 2>/dev/null || true; [ -z "$bus" ] || kill $bus 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
dbus-daemon --config-file="$lab/dbus.conf" --nofork & bus=$!
i=0; while [ ! -S /run/dbus/system_bus_socket ]; do i=$((i+1)); [ $i -lt 50 ] || { echo "@@error no system bus"; exit 1; }; sleep 0.1; done
t0=$(date +%s%N)
NetworkManager --no-daemon --debug --config=/etc/NetworkManager/NetworkManager.conf >"$lab/nm.log" 2>&1 & nm=$!
active() { nmcli -t -f NAME,STATE connection show --active 2>/dev/null | grep -qx "$1:activated"; }
# Bounded by the clock, not a count: each nmcli call takes ~0.2 s.
until=$(( $(date +%s) + 15 ))
while ! { ip -o addr show dev lo | grep -q " $ALIAS/32 " && active hostalias-lo; }; do
  [ $(date +%s) -lt $until ] || { echo "@@error hostalias-lo not activated within 15 s"; break; }; sleep 0.1
done
echo "@@boot-ms $(( ($(date +%s%N) - t0) / 1000000 ))"
echo "@@booted-lo $(ip -j addr show dev lo)"
echo "@@booted-active $(nmcli -t -f NAME,TYPE,DEVICE connection show --active | tr '\n' ' ')"
echo "@@booted-ipv4 $(nmcli -g ipv4.method,ipv4.addresses connection show hostalias-lo | tr '\n' ' ')"
"$node" "$cli" down --files-root "$root" >"$lab/down.out" 2>&1 || echo "@@error down exited $?"
nmcli connection reload
until=$(( $(date +%s) + 5 ))
while nmcli -t -f NAME connection show | grep -qx hostalias-lo; do
  [ $(date +%s) -lt $until ] || { echo "@@error profile still loaded 5 s after reload"; break; }; sleep 0.1
done
echo "@@down-lo $(ip -j addr show dev lo)"
echo "@@down-profiles $(nmcli -t -f NAME connection show | tr '\n' ' ')"
echo "@@nm-alive $(kill -0 $nm 2>/dev/null && echo yes || echo no)"
`;

interface LoLink {
  flags: string[];
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

function field(out: string, key: string): string {
  const line = out.split('\n').find((l) => l.startsWith(`@@${key} `));
  assert.ok(line !== undefined, `no @@${key} in the script output:\n${out}`);
  return line.slice(key.length + 3);
}

function loState(out: string, key: string): { up: boolean; v4: string[] } {
  const [lo] = JSON.parse(field(out, key)) as LoLink[];
  assert.ok(lo, `no lo in @@${key}`);
  return {
    up: lo.flags.includes('UP'),
    v4: lo.addr_info
      .filter((a) => a.family === 'inet')
      .map((a) => `${a.local}/${a.prefixlen}`)
      .sort(),
  };
}

async function nmVersion(): Promise<string> {
  const r = await execArgv(['NetworkManager', '--version'], { allowFail: true });
  assert.equal(r.code, 0, `NetworkManager is not installed (apt-get install network-manager, see .ci/install-packages): ${r.stderr}`);
  return r.stdout.trim();
}

test('NetworkManager 1.42: the keyfile makes the real NetworkManager put the alias on lo at boot; down + reload drops it and keeps 127.0.0.1/8', async (t) => {
  const version = await nmVersion();
  const [maj, min] = version.split('.').map(Number);
  assert.ok((maj ?? 0) > 1 || ((maj ?? 0) === 1 && (min ?? 0) >= 42), `loopback profiles need NetworkManager ≥ 1.42, found ${version}`);

  const root = await tempRoot(t, 'rb-nmreal');
  const inst = await withNetns(t, 'nminst');
  const up = await runCli(inst, ['up', '--files-root', root, '--persist', 'networkmanager']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((await stat(join(root, KEYFILE))).mode & 0o777, 0o600, 'NetworkManager ignores keyfiles others can read');

  const lab = join(root, 'nm-lab');
  await mkdir(join(lab, 'etc/system-connections'), { recursive: true });
  await writeFile(join(lab, 'etc/NetworkManager.conf'), NM_CONF);
  await writeFile(join(lab, 'dbus.conf'), DBUS_CONF);

  // The "rebooted" machine: lo down, only the kernel's 127.0.0.1/8, nothing from hostalias.
  const booted = await withNetns(t, 'nmboot');
  await booted.exec(['ip', 'link', 'set', 'lo', 'down']);
  assert.deepEqual(await loAddrs(booted), ['127.0.0.1/8 lo'], 'no alias before NetworkManager starts');

  const r = await execArgv(
    [
      'nsenter',
      `--net=${booted.path}`,
      '--',
      'unshare',
      '--mount',
      '--uts',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      SCRIPT.replaceAll('$ALIAS', ALIAS_IP),
      'nm-boot',
      lab,
      root,
      process.execPath,
      cliPath(),
    ],
    { allowFail: true, timeoutMs: 60_000 },
  );
  const log = async () =>
    `${r.stdout}${r.stderr}\n--- nm.log (tail) ---\n${(await readFile(join(lab, 'nm.log'), 'utf8').catch(() => '')).split('\n').slice(-60).join('\n')}`;
  assert.equal(r.code, 0, await log());
  assert.doesNotMatch(r.stdout, /^@@error/m, await log());
  t.diagnostic(`NetworkManager ${version}: profile active and alias on lo ${field(r.stdout, 'boot-ms')} ms after start`);

  // After "boot": NM brought lo up with the alias next to (not instead of) 127.0.0.1/8.
  assert.deepEqual(loState(r.stdout, 'booted-lo'), { up: true, v4: ['10.254.254.254/32', '127.0.0.1/8'] }, await log());
  assert.match(field(r.stdout, 'booted-active'), /(^| )hostalias-lo:loopback:lo /, await log());
  assert.equal(field(r.stdout, 'booted-ipv4').trim(), `manual ${ALIAS_IP}/32`);
  const nmLog = await readFile(join(lab, 'nm.log'), 'utf8');
  assert.doesNotMatch(nmLog, /hostalias-lo\.nmconnection.*failed to load/, 'NM loaded the keyfile without complaint');

  // After `down --root` (keyfile removed, alias deleted) and the reload `down` runs on a live system.
  assert.deepEqual(loState(r.stdout, 'down-lo'), { up: true, v4: ['127.0.0.1/8'] }, await log());
  assert.doesNotMatch(field(r.stdout, 'down-profiles'), /hostalias-lo/);
  assert.equal(field(r.stdout, 'nm-alive'), 'yes', 'NetworkManager ran until the end (no crash)');
});
