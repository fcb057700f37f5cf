import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parsePlist } from 'plist';
import { HostaliasError } from '../../src/model/errors.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { linuxBackend } from '../../src/platform/linux/backend.js';
import { chooseMacPersistence } from '../../src/platform/darwin/backend.js';
import { checkMacAliasConflicts, isLo0AliasPresent, parseIfconfig, prefixFromHexNetmask } from '../../src/platform/darwin/ifconfig.js';
import { aliasJob, parseLaunchctlPrint, renderPlist } from '../../src/platform/darwin/launchd.js';
import { anchorFileContent, hasAppleRdrAnchor, liveTokens, parsePfEnabled, parseRules, parseTokens, pfJob, rdrRule } from '../../src/platform/darwin/pf.js';
import { MacPreviewRunner } from '../../src/platform/darwin/preview-runner.js';
import { parseSwVers } from '../../src/platform/darwin/sw-vers.js';
import { versionAtLeast } from '../../src/model/version.js';
import { detectWsl, wslConfEnablesSystemd, wslNotes } from '../../src/platform/linux/wsl.js';
import { fixture } from '../support/fake-mac.js';

const IP = '10.254.254.254';
const isCode = (code: string) => (err: unknown) => err instanceof HostaliasError && err.code === code;

test('ifconfig lo0 without and with the alias', () => {
  const pristine = parseIfconfig(fixture('ifconfig-lo0.txt'));
  assert.deepEqual(
    pristine.filter((a) => a.family === 'inet'),
    [{ ifname: 'lo0', family: 'inet', local: '127.0.0.1', prefixlen: 8 }],
  );
  assert.equal(pristine.filter((a) => a.family === 'inet6').length, 2);
  assert.equal(isLo0AliasPresent(pristine, IP), false);
  const withAlias = parseIfconfig(fixture('ifconfig-lo0-alias.txt'));
  assert.equal(isLo0AliasPresent(withAlias, IP), true);
  assert.deepEqual(
    withAlias.find((a) => a.local === IP),
    { ifname: 'lo0', family: 'inet', local: IP, prefixlen: 32 },
  );
});

test('hex netmasks become prefix lengths', () => {
  assert.equal(prefixFromHexNetmask('0xffffffff'), 32);
  assert.equal(prefixFromHexNetmask('0xff000000'), 8);
  assert.equal(prefixFromHexNetmask('0xffffff00'), 24);
  assert.equal(prefixFromHexNetmask('0xffff0000'), 16);
});

test('an alias added without a netmask (classful /8) is not the /32, and no conflict: up replaces it', () => {
  const addrs = parseIfconfig(fixture('ifconfig-lo0-alias-classful.txt'));
  assert.equal(isLo0AliasPresent(addrs, IP), false);
  assert.doesNotThrow(() => checkMacAliasConflicts(IP, addrs));
});

test('ifconfig -a: other interfaces, subnets and point-to-point peers', () => {
  const all = parseIfconfig(fixture('ifconfig-lo0.txt') + fixture('ifconfig-a-rest.txt'));
  assert.deepEqual(
    all.find((a) => a.ifname === 'en0' && a.family === 'inet'),
    { ifname: 'en0', family: 'inet', local: '192.168.1.23', prefixlen: 24 },
  );
  assert.deepEqual(
    all.find((a) => a.ifname === 'utun3'),
    { ifname: 'utun3', family: 'inet', local: '10.8.0.6', prefixlen: 32, peer: '10.8.0.5' },
  );
  assert.doesNotThrow(() => checkMacAliasConflicts(IP, all));
  assert.throws(
    () => checkMacAliasConflicts('192.168.1.77', all),
    (e: unknown) => isCode('conflict')(e) && /inside en0's connected subnet 192\.168\.1\.23\/24/.test((e as Error).message),
  );
  assert.throws(
    () => checkMacAliasConflicts('10.8.0.5', all),
    (e: unknown) => isCode('conflict')(e) && /utun3/.test((e as Error).message),
  );
  const lan = parseIfconfig(fixture('ifconfig-lo0.txt') + fixture('ifconfig-a-rest-lan-10-254.txt'));
  assert.throws(() => checkMacAliasConflicts(IP, lan), isCode('conflict'));
});

test('launchctl print: loaded, not loaded (exit 113), and errors that must not read as absent', () => {
  assert.equal(parseLaunchctlPrint('dev.hostalias.alias', { code: 0, stdout: fixture('launchctl-print-loaded.txt'), stderr: '' }), true);
  assert.equal(parseLaunchctlPrint('dev.hostalias.alias', { code: 113, stdout: '', stderr: fixture('launchctl-print-missing.stderr.txt') }), false);
  assert.throws(() => parseLaunchctlPrint('dev.hostalias.alias', { code: 1, stdout: '', stderr: 'Operation not permitted' }), isCode('permission'));
  assert.throws(() => parseLaunchctlPrint('dev.hostalias.alias', { code: 5, stdout: '', stderr: 'Input/output error' }), isCode('failed'));
});

test('the alias LaunchDaemon is a well-formed property list with the right keys', () => {
  const text = renderPlist(aliasJob(IP));
  const parsed = parsePlist(text) as Record<string, unknown>;
  assert.deepEqual(parsed, {
    Label: 'dev.hostalias.alias',
    ProgramArguments: ['/sbin/ifconfig', 'lo0', 'alias', IP, 'netmask', '255.255.255.255'],
    RunAtLoad: true,
  });
  assert.match(text, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"/);
  const comments = [...text.matchAll(/<!--([\s\S]*?)-->/g)].map((m) => m[1] ?? '');
  assert.equal(comments.length, 1);
  assert.ok(
    comments.every((c) => !c.includes('--')),
    'XML forbids "--" inside a comment',
  );
});

test('the pf LaunchDaemon enables pf with a reference, loads the anchor and keeps its stderr', () => {
  const parsed = parsePlist(renderPlist(pfJob())) as Record<string, unknown>;
  assert.deepEqual(parsed, {
    Label: 'dev.hostalias.pf',
    ProgramArguments: ['/sbin/pfctl', '-E', '-a', 'com.apple/hostalias', '-f', '/etc/pf.anchors/dev.hostalias'],
    RunAtLoad: true,
    StandardErrorPath: '/var/lib/hostalias/pf-boot.log',
  });
});

test('plist values are escaped', () => {
  const parsed = parsePlist(renderPlist({ label: 'x<&>"y', programArguments: ['a&b', '<c>'] })) as Record<string, unknown>;
  assert.deepEqual(parsed, { Label: 'x<&>"y', ProgramArguments: ['a&b', '<c>'], RunAtLoad: true });
});

test('pf: rule format equals what pfctl -s nat prints; tokens, status and the com.apple hook', () => {
  const rule = rdrRule(IP, { port: 5432, proto: 'tcp', to: 5432, keepSource: false });
  assert.deepEqual(parseRules(fixture('pfctl-anchor-nat.txt') + fixture('pfctl-altq.stderr.txt')), [rule]);
  assert.deepEqual(parseRules(anchorFileContent(IP, [{ port: 5432, proto: 'tcp', to: 5432, keepSource: false }])), [rule]);
  assert.deepEqual(parseTokens(fixture('pfctl-E.stderr.txt')), ['10760036128423510625']);
  assert.equal(parsePfEnabled(fixture('pfctl-s-info-enabled.txt')), true);
  assert.equal(parsePfEnabled(fixture('pfctl-s-info-disabled.txt')), false);
  assert.equal(hasAppleRdrAnchor(fixture('pfctl-s-nat-main.txt')), true);
  assert.equal(hasAppleRdrAnchor('nat-anchor "com.apple/*" all\n'), false);
  const refs = `${fixture('pfctl-s-references-header.txt')}312      pfctl                       10760036128423510625      0 days 00:01:12\n`;
  assert.deepEqual(liveTokens(['10760036128423510625', '42'], refs), ['10760036128423510625']);
});

test('sw_vers', () => {
  assert.deepEqual(parseSwVers(fixture('sw_vers.txt')), { productName: 'macOS', productVersion: '14.5', buildVersion: '23F79' });
  assert.equal(parseSwVers(fixture('sw_vers-10.9.txt'))?.productVersion, '10.9.5');
  assert.equal(versionAtLeast('14.5', '10.10'), true);
  assert.equal(versionAtLeast('10.9.5', '10.10'), false);
  assert.equal(versionAtLeast('10.10', '10.10'), true);
});

test('--persist on macOS: auto and launchd mean launchd, Linux kinds are usage errors', () => {
  assert.equal(chooseMacPersistence('auto').kind, 'launchd');
  assert.equal(chooseMacPersistence('launchd').kind, 'launchd');
  assert.equal(chooseMacPersistence('none').kind, 'none');
  for (const k of ['systemd', 'networkd', 'netplan', 'ifupdown', 'networkmanager'] as const) {
    assert.throws(
      () => chooseMacPersistence(k),
      (e: unknown) => isCode('usage')(e) && /--persist launchd/.test((e as HostaliasError).fix ?? ''),
    );
  }
});

test('--persist launchd on Linux is a usage error', async () => {
  const ctx = {
    runner: new MacPreviewRunner(new SystemFs('/nonexistent')),
    fs: new SystemFs('/nonexistent-root'),
    backend: linuxBackend,
    live: true,
    isRoot: true,
    env: {},
  };
  await assert.rejects(ctx.backend.decidePersistence(ctx, 'launchd'), (e: unknown) => isCode('usage')(e) && /macOS only/.test((e as Error).message));
});

test('WSL detection and its notes', () => {
  const wsl2 = detectWsl({ osrelease: '5.15.153.1-microsoft-standard-WSL2\n', env: {}, wslConf: null });
  assert.equal(wsl2.wsl, true);
  assert.equal(wsl2.version, 2);
  assert.equal(wsl2.systemdEnabled, false);
  assert.equal(detectWsl({ osrelease: '6.1.0-18-amd64', env: {}, wslConf: null }).wsl, false);
  assert.equal(detectWsl({ osrelease: null, env: { WSL_DISTRO_NAME: 'Ubuntu' }, wslConf: null }).wsl, true);
  assert.equal(wslConfEnablesSystemd('[boot]\nsystemd=true\n'), true);
  assert.equal(wslConfEnablesSystemd('[boot]\n# systemd=true\n'), false);
  assert.equal(wslConfEnablesSystemd('[network]\nsystemd=true\n'), false);
  assert.equal(wslConfEnablesSystemd('[user]\ndefault=me\n[boot]\nsystemd = true # on\n'), true);
  const { notes, warnings } = wslNotes(wsl2, 'systemd');
  assert.match(notes.join('\n'), /wsl --shutdown/);
  assert.match(notes.join('\n'), /Docker Desktop's WSL 2 backend/);
  assert.match(warnings.join('\n'), /systemd=true/);
  assert.deepEqual(wslNotes({ ...wsl2, systemdEnabled: true }, 'systemd').warnings, []);
  assert.deepEqual(wslNotes(detectWsl({ osrelease: '6.1.0', env: {}, wslConf: null }), 'systemd'), { notes: [], warnings: [] });
});

test('the preview runner answers probes as a pristine Mac and refuses everything else', async () => {
  const runner = new MacPreviewRunner(new SystemFs('/'), 'linux');
  const lo0 = await runner.run(['ifconfig', 'lo0']);
  assert.equal(lo0.stdout, fixture('ifconfig-lo0.txt'));
  assert.equal((await runner.run(['launchctl', 'print', 'system/dev.hostalias.alias'])).code, 113);
  assert.deepEqual(parseRules((await runner.run(['pfctl', '-a', 'com.apple/hostalias', '-s', 'nat'])).stdout), []);
  const change = await runner.run(['ifconfig', 'lo0', 'alias', IP, 'netmask', '255.255.255.255']);
  assert.equal(change.code, 126);
  assert.match(change.stderr, /previewing macOS from linux/);
  assert.match(await runner.describe(), /assuming nothing is installed/);
});
