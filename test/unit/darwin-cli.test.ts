import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parsePlist } from 'plist';
import { defaultDesired } from '../../src/model/config.js';
import { aliasJob, renderPlist } from '../../src/platform/darwin/launchd.js';
import { anchorFileContent, pfJob } from '../../src/platform/darwin/pf.js';
import { makeRoot, readTree } from '../support/rooted.js';

// The CLI as users run it: `--platform darwin` on this Linux machine (macOS steps never run here).
const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const PLIST = '/Library/LaunchDaemons/dev.hostalias.alias.plist';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('the CLI is built', () => {
  assert.ok(existsSync(CLI), `${CLI} missing: run npx tsc -p tsconfig.json first`);
});

test('up --platform darwin --dry-run previews the macOS plan: commands, the plist, a note; nothing is written', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['up', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^\$ ifconfig lo0 alias 10\.254\.254\.254 netmask 255\.255\.255\.255$/m);
  assert.match(res.stdout, new RegExp(`^\\$ launchctl bootstrap system ${PLIST}    # skipped \\(files under a folder\\)$`, 'm'));
  assert.match(res.stdout, /previewing macOS from linux: assuming nothing is installed/);
  assert.match(res.stdout, /persistence: launchd/);
  // The plist's content is in the diff: strip the "+" of added lines and parse it.
  const added = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('+') && !l.startsWith('+++'))
    .map((l) => l.slice(1))
    .join('\n');
  const start = added.lastIndexOf('<?xml', added.indexOf('<string>dev.hostalias.alias</string>'));
  const plistText = added.slice(start, added.indexOf('</plist>', start) + '</plist>'.length);
  assert.deepEqual(parsePlist(plistText), {
    Label: 'dev.hostalias.alias',
    ProgramArguments: ['/sbin/ifconfig', 'lo0', 'alias', '10.254.254.254', 'netmask', '255.255.255.255'],
    RunAtLoad: true,
  });
  assert.deepEqual(await readTree(root), {}, 'a dry run writes nothing');
});

test('without --dry-run the macOS plan is refused on Linux (exit 7) and nothing changes', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['up', '--platform', 'darwin', '--files-root', root]);
  assert.equal(res.code, 7);
  assert.match(res.stderr, /can only be previewed/);
  assert.match(res.stderr, /fix: add --dry-run/);
  assert.deepEqual(await readTree(root), {});
});

test('expose --keep-source --platform darwin --dry-run shows the pf anchor, its loading and the enable reference', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['expose', '5432', '--keep-source', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^\$ pfctl -a com\.apple\/hostalias -f - <<'EOF'$/m);
  assert.match(res.stdout, /^rdr pass on lo0 inet proto tcp from any to 10\.254\.254\.254 port = 5432 -> 127\.0\.0\.1 port 5432$/m);
  assert.match(res.stdout, /^\$ pfctl -E {4}# saves .*\/var\/lib\/hostalias\/pf-token$/m);
  assert.match(res.stdout, /dev\.hostalias\.pf\.plist/);
});

test('--persist: Linux kinds on darwin and launchd on Linux are usage errors (exit 2)', async (t) => {
  const root = await makeRoot(t);
  const a = await cli(['up', '--platform', 'darwin', '--persist', 'systemd', '--dry-run', '--files-root', root]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /does not exist on macOS/);
  const b = await cli(['up', '--platform', 'linux', '--persist', 'launchd', '--dry-run', '--files-root', root]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /macOS only/);
});

test('down --platform darwin --dry-run with a --root state previews removing what that state records', async (t) => {
  const ip = '10.254.254.254';
  const exposes = [{ port: 5432, proto: 'tcp' as const, to: 5432, keepSource: false }];
  const state = {
    version: 1,
    desired: { ...defaultDesired(), exposes },
    persistence: { kind: 'launchd', reason: 'test', ip, label: 'lo:hostalias' },
    updatedAt: '2024-01-01T00:00:00.000Z',
  };
  const root = await makeRoot(t, {
    '/var/lib/hostalias/state.json': JSON.stringify(state),
    '/var/lib/hostalias/pf-token': '10760036128423510625\n',
    [PLIST]: renderPlist(aliasJob(ip)),
    '/Library/LaunchDaemons/dev.hostalias.pf.plist': renderPlist(pfJob()),
    '/etc/pf.anchors/dev.hostalias': anchorFileContent(ip, exposes),
  });
  const res = await cli(['down', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /assuming exactly what .*state\.json records is installed \(alias 10\.254\.254\.254 on lo0, 2 pf rule\(s\)\)/);
  const lines = res.stdout.split('\n').filter((l) => l.startsWith('$ '));
  assert.deepEqual(lines, [
    '$ launchctl bootout system/dev.hostalias.alias    # skipped (files under a folder)',
    `$ rm -f ${root}${PLIST}`,
    '$ ifconfig lo0 -alias 10.254.254.254',
    '$ launchctl bootout system/dev.hostalias.pf    # skipped (files under a folder)',
    `$ rm -f ${root}/Library/LaunchDaemons/dev.hostalias.pf.plist`,
    '$ pfctl -a com.apple/hostalias -F all',
    `$ rm -f ${root}/etc/pf.anchors/dev.hostalias`,
    '$ pfctl -X 10760036128423510625',
    `$ rm -f ${root}/var/lib/hostalias/pf-token`,
  ]);
});

test('doctor --platform darwin runs only macOS checks through the preview; none crashes; no Linux fix', async (t) => {
  const root = await makeRoot(t);
  const res = await cli(['doctor', '--platform', 'darwin', '--json', '--files-root', root]);
  assert.equal(res.code, 1, res.stderr); // not set up: the alias check fails, as on a fresh Mac
  const { findings } = JSON.parse(res.stdout) as { findings: Array<{ id: string; status: string; message: string; fix?: string }> };
  const ids = new Set(findings.map((f) => f.id));
  for (const linuxOnly of ['route-conflict', 'daemon-gateway', 'firewall', 'listeners', 'wsl']) assert.ok(!ids.has(linuxOnly), `${linuxOnly} is a Linux check`);
  assert.ok(ids.has('alias') && ids.has('docker'));
  assert.deepEqual(
    findings.filter((f) => /crashed|ip -j|\/proc/.test(f.message)),
    [],
    'no check crashed or asked Linux tools',
  );
  assert.match(findings.find((f) => f.id === 'alias')?.message ?? '', /not on lo0/);
  assert.ok(!findings.some((f) => /systemctl|service docker/.test(f.fix ?? '')), 'no Linux service manager in a Mac fix');
});

// macOS's install(1) is BSD's (apple-oss-distributions/file_cmds, install/xinstall.c): its getopt
// string is "B:bCcD:df:g:h:l:M:m:N:o:pSsT:Uv" — no GNU `-t`, and `-D` takes an argument (a destdir).
const BSD_INSTALL_OPTS = 'B:bCcD:df:g:h:l:M:m:N:o:pSsT:Uv';

/** The flags of a printed `install …` line, checked against BSD install's getopt string; throws on one it lacks. */
function bsdInstallFlags(line: string): string[] {
  const words = line.replace(/^\$ /, '').split(' ').slice(1);
  const flags: string[] = [];
  for (let i = 0; i < words.length && (words[i] as string).startsWith('-'); i++) {
    const letter = (words[i] as string).slice(1);
    const at = BSD_INSTALL_OPTS.indexOf(letter);
    if (letter.length !== 1 || at < 0) throw new Error(`BSD install has no -${letter}: ${line}`);
    flags.push(letter);
    if (BSD_INSTALL_OPTS[at + 1] !== ':') continue;
    const arg = words[++i] ?? '';
    // BSD getopt takes the next word whatever it is: GNU's `-D -t DIR` becomes destdir "-t".
    if (arg.startsWith('-')) throw new Error(`BSD install takes ${arg} as the argument of -${letter}: ${line}`);
  }
  return flags;
}

test('the macOS plan prints what BSD install and ln take (file_cmds install.1, ln.1); the Linux plan keeps GNU install -D -t', async (t) => {
  // A root where systemd runs, for the Linux half (a relay is installed only where a service manager runs).
  const root = await makeRoot(t, { '/run/systemd/system/.keep': '' });
  const mac = await cli(['forward', '5432', '--install', '--platform', 'darwin', '--dry-run', '--files-root', root]);
  assert.equal(mac.code, 0, mac.stderr);
  const installs = mac.stdout.split('\n').filter((l) => l.startsWith('$ install '));
  assert.ok(installs.length >= 3, mac.stdout);
  for (const line of installs) bsdInstallFlags(line);
  assert.match(mac.stdout, /^\$ install -d -m 0755 \S+\/usr\/local\/lib\/hostalias\/0\.1\.0-[0-9a-f]{12}$/m, 'the folder first, with install -d');
  assert.match(
    mac.stdout,
    /^\$ install -m 0644 (\S+\/dist\/cli\/\S+ )+\S+\/usr\/local\/lib\/hostalias\/0\.1\.0-[0-9a-f]{12}$/m,
    'files first, the folder last',
  );
  assert.match(
    mac.stdout,
    /^\$ ln -sfh 0\.1\.0-[0-9a-f]{12} \S+\/usr\/local\/lib\/hostalias\/current$/m,
    'ln -h: replace the link to a folder, do not follow it',
  );
  assert.throws(
    () => bsdInstallFlags('$ install -m 0644 -D -t /x a'),
    /BSD install takes -t as the argument of -D/,
    'negative control: the GNU form is caught',
  );

  const linux = await cli(['forward', '5432', '--install', '--platform', 'linux', '--dry-run', '--files-root', root]);
  assert.equal(linux.code, 0, linux.stderr);
  assert.match(linux.stdout, /^\$ install -m 0644 -D -t \S+\/usr\/local\/lib\/hostalias\/0\.1\.0-[0-9a-f]{12} /m, 'Linux output unchanged');
  assert.match(linux.stdout, /^\$ ln -sf 0\.1\.0-/m);
});

test('expose --all --platform darwin is refused (exit 7) naming the one-by-one command, and nothing changes', async (t) => {
  const root = await makeRoot(t);
  for (const dry of [['--dry-run'], []]) {
    const res = await cli(['expose', '--all', '--platform', 'darwin', ...dry, '--files-root', root]);
    assert.equal(res.code, 7, res.stderr);
    assert.match(res.stderr, /expose --all is Linux-only for now/);
    assert.match(res.stderr, /fix: expose the ports one by one: .*expose 5432 6379 5173/);
  }
  assert.deepEqual(await readTree(root), {});
});
