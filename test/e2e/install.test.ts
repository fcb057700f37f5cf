/**
 * Installing and starting like a real CLI: `npm install -g` of the packed tarball and of
 * a git URL into fresh prefixes, `npx`, an unprivileged user whose only node is under ~/.nvm
 * running `up` through the sudo re-run, and boot units that still work after the clone and the
 * node it ran with are deleted. Needs root, npm, git, sudo (Debian's package) and runuser.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { execArgv } from '../lab/exec.js';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { startLocalRegistry, type LocalRegistry } from '../lab/local-registry.js';
import { repoRoot, startReplyServer, tcpRequest, withNetns } from '../lab/netns.js';
import { execStart, literal, loAddrs, rooted, tempRoot } from '../support/e2e.js';
import { RUNTIME_CURRENT, RUNTIME_DIR } from '../../src/exec/runtime.js';
import { VERSION } from '../../src/model/version.js';

const ALIAS = '10.254.254.254';
const NPM_TIMEOUT = 300_000;
let tarball = '';
let packDir = '';
let registry: LocalRegistry;

before(async () => {
  // The build that ran before the tests is what gets packed (--ignore-scripts: no rebuild of the
  // dist/ other tests are running from).
  packDir = await mkdtemp(`${LAB_TMP_PREFIX}pack-`);
  const r = await execArgv(['npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: repoRoot(), timeoutMs: NPM_TIMEOUT });
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string }>;
  tarball = join(packDir, info?.filename ?? '');
  await chmod(packDir, 0o755);
  registry = await startLocalRegistry();
});

test.after(async () => {
  await registry?.close();
  await rm(packDir, { recursive: true, force: true });
});

/**
 * npm talks only to a registry on 127.0.0.1 that serves this lockfile's packages from the
 * tarballs `npm ci` just put in npm's cache (test/lab/local-registry.ts): no test reaches the
 * public registry, and none depends on metadata an earlier run left in the cache. The prefix goes
 * on the command line: as npm_config_prefix it would leak into the git dependency's own `npm install`.
 */
const npmEnv = () => registry.env();
const noMisses = () => assert.deepEqual(registry.misses, [], `npm asked the local registry for what the lockfile does not hold: ${registry.misses.join(', ')}`);
const npmGlobal = (prefix: string, spec: string) => ['npm', 'install', '--global', '--prefix', prefix, spec];

test('npm pack ships the bundle, the library and its types, and nothing else', async () => {
  const r = await execArgv(['npm', 'pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: repoRoot(), timeoutMs: NPM_TIMEOUT });
  const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
  for (const need of [
    'package.json',
    'README.md',
    'dist/cli/main.js',
    'dist/cli/worker-main.js',
    'dist/cli/runtime.json',
    'dist/cli/package.json',
    'dist/index.js',
    'dist/index.d.ts',
  ]) {
    assert.ok(files.includes(need), `${need} is shipped`);
  }
  const extra = files.filter((f) => /^(src|test|bench|build|scripts|node_modules)\/|\.map$|^tsconfig|\.ts$/.test(f) && !f.endsWith('.d.ts'));
  assert.deepEqual(extra, [], 'no sources, tests, maps or build config');
  const manifest = JSON.parse(await readFile(join(repoRoot(), 'dist/cli/runtime.json'), 'utf8')) as { files: string[] };
  for (const f of manifest.files) assert.ok(files.includes(`dist/cli/${f}`), `the installed copy's ${f} is shipped`);
});

test('npm install -g of the tarball into a fresh prefix: hostalias --version, and its commands run', async (t) => {
  const prefix = await tempRoot(t, 'npmg');
  const r = await execArgv(npmGlobal(prefix, tarball), { env: npmEnv(), timeoutMs: NPM_TIMEOUT, allowFail: true });
  assert.equal(r.code, 0, r.stderr);
  noMisses();
  const bin = join(prefix, 'bin/hostalias');
  assert.ok(lstatSync(bin).isSymbolicLink());
  const v = await execArgv([bin, '--version']);
  assert.equal(v.stdout.trim(), VERSION);
  const flags = await execArgv([bin, 'flags', '--format', 'args'], { allowFail: true });
  assert.match(flags.stdout, new RegExp(`--add-host=host\\.docker\\.internal:${ALIAS.replace(/\./g, '\\.')}`));
  const npx = await execArgv(['npm', 'exec', '--yes', `--package=${tarball}`, '--', 'hostalias', '--version'], {
    env: npmEnv(),
    cwd: prefix,
    timeoutMs: NPM_TIMEOUT,
    allowFail: true,
  });
  assert.equal(npx.code, 0, npx.stderr);
  assert.equal(npx.stdout.trim(), VERSION, 'npx runs it too');
});

test('npm install -g from a git URL of a clone: the prepare script builds it', { timeout: 600_000 }, async (t) => {
  const work = await tempRoot(t, 'npmgit');
  const clone = join(work, 'clone');
  await execArgv(['git', 'clone', '--quiet', repoRoot(), clone], { timeoutMs: NPM_TIMEOUT });
  const prefix = join(work, 'prefix');
  // npm 11 runs a git dependency's prepare only when allowed (--allow-scripts names the URL, its
  // resolved identity), and without --install-links links the global install to the temp clone it
  // built in, which npm then deletes. The git install line of docs/install.md has both.
  const url = `git+file://${clone}`;
  const r = await execArgv(['npm', 'install', '--global', '--prefix', prefix, '--install-links', `--allow-scripts=${url}`, url], {
    env: npmEnv(),
    timeoutMs: 540_000,
    allowFail: true,
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  noMisses();
  const bin = join(prefix, 'bin/hostalias');
  assert.ok(!lstatSync(join(prefix, 'lib/node_modules/hostalias')).isSymbolicLink(), "a real copy, not a link to npm's temp clone");
  const v = await execArgv([bin, '--version'], { allowFail: true });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), VERSION);
});

/** A system user for one test, removed (with its sudoers entry) afterwards. */
async function makeUser(t: Parameters<typeof tempRoot>[0], home: string, sudo: boolean): Promise<string> {
  const name = `hal${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  await execArgv(['useradd', '--home-dir', home, '--no-create-home', '--shell', '/bin/sh', name]);
  const sudoers = `/etc/sudoers.d/hostalias-test-${name}`;
  t.after(async () => {
    await rm(sudoers, { force: true });
    await execArgv(['userdel', name], { allowFail: true });
  });
  if (sudo) {
    await writeFile(sudoers, `${name} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
    const check = await execArgv(['visudo', '-c', '-f', sudoers], { allowFail: true });
    assert.equal(check.code, 0, check.stderr);
  }
  return name;
}

test('nvm user with passwordless sudo: `hostalias up` re-runs itself through sudo with absolute paths; HOSTALIAS_NO_SUDO=1 exits 4 with the command', {
  timeout: 300_000,
}, async (t) => {
  const base = await tempRoot(t, 'nvm');
  await chmod(base, 0o755);
  const home = join(base, 'home');
  const nvmBin = join(home, `.nvm/versions/node/${process.version}/bin`);
  const pkg = join(home, `.nvm/versions/node/${process.version}/lib/node_modules/hostalias`);
  await mkdir(nvmBin, { recursive: true });
  await mkdir(pkg, { recursive: true });
  await copyFile(process.execPath, join(nvmBin, 'node'));
  await chmod(join(nvmBin, 'node'), 0o755);
  // What `npm install -g` lays out under an nvm prefix: the package and a bin link to its CLI.
  await execArgv(['tar', '-xzf', tarball, '-C', pkg, '--strip-components=1']);
  await symlink('../lib/node_modules/hostalias/dist/cli/main.js', join(nvmBin, 'hostalias'));
  // sudo, but no node, on the user's PATH besides nvm's (the machine's /usr/bin has a node).
  const tools = join(home, 'tools');
  await mkdir(tools);
  for (const tool of ['sudo', 'env']) await symlink(`/usr/bin/${tool}`, join(tools, tool));
  const user = await makeUser(t, home, true);
  await execArgv(['chown', '-R', `${user}:`, home]);
  const root = join(base, 'root');
  await mkdir(root);

  const ns = await withNetns(t, 'nvm');
  const asUser = (args: string[], extra: string[] = []) =>
    ns.exec(['runuser', '-u', user, '--', '/usr/bin/env', '-i', `HOME=${home}`, `PATH=${nvmBin}:${tools}`, 'LC_ALL=C', ...extra, ...args], {
      allowFail: true,
      timeoutMs: 120_000,
    });

  const byName = await asUser(['sudo', '-n', 'hostalias', '--version']);
  assert.notEqual(byName.code, 0, 'negative control: sudo does not find hostalias by name (secure_path)');
  assert.match(byName.stderr, /hostalias: command not found/);

  const script = join(pkg, 'dist/cli/main.js');
  const command = `sudo ${join(nvmBin, 'node')} ${script} up --persist none --files-root ${root}`;
  const refused = await asUser(['hostalias', 'up', '--persist', 'none', '--files-root', root], ['HOSTALIAS_NO_SUDO=1']);
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /needs root \(HOSTALIAS_NO_SUDO=1/);
  assert.ok(refused.stderr.includes(`  fix: ${command}\n`), refused.stderr);
  assert.ok(!(await loAddrs(ns)).some((a) => a.startsWith(ALIAS)), 'nothing changed');

  const r = await asUser(['hostalias', 'up', '--persist', 'none', '--files-root', root]);
  assert.equal(r.code, 0, r.stderr);
  // The re-run says that the user runs `hostalias` by name, so root's fix lines may say `hostalias …` too.
  const rerun = `sudo HOSTALIAS_RERUN=name ${join(nvmBin, 'node')} ${script} up --persist none --files-root ${root}`;
  assert.ok(r.stderr.includes(`running it again with sudo:\n  ${rerun}\n`), r.stderr);
  assert.match(r.stdout, /10\.254\.254\.254/);
  assert.ok((await loAddrs(ns)).includes(`${ALIAS}/32 lo:hostalias`), 'the alias is up in the namespace');
  const state = JSON.parse(await readFile(join(root, 'var/lib/hostalias/state.json'), 'utf8')) as { persistence: unknown };
  assert.equal(state.persistence, null);

  await rm(`/etc/sudoers.d/hostalias-test-${user}`);
  const noCreds = await asUser(['hostalias', 'down', '--files-root', root]);
  assert.equal(noCreds.code, 4, 'no terminal and sudo would prompt: exit 4');
  assert.match(noCreds.stderr, /sudo would ask for a password, but there is no terminal/);
  assert.ok(noCreds.stderr.includes(`  fix: sudo ${join(nvmBin, 'node')} ${script} down --files-root ${root}\n`), noCreds.stderr);
  assert.ok((await loAddrs(ns)).includes(`${ALIAS}/32 lo:hostalias`), 'still up: nothing was changed');
});

test('boot units name only the installed copy; with the clone and its node deleted, their ExecStart lines bring back the alias, the rules and a forward', {
  timeout: 300_000,
}, async (t) => {
  const base = await tempRoot(t, 'units');
  const clone = join(base, 'clone');
  await mkdir(clone);
  await execArgv(['tar', '-xzf', tarball, '-C', clone, '--strip-components=1']);
  const node = join(base, 'node-elsewhere/node');
  await mkdir(join(base, 'node-elsewhere'));
  await copyFile(process.execPath, node);
  await chmod(node, 0o755);
  const root = join(base, 'root');
  await mkdir(join(root, 'lib/systemd'), { recursive: true });
  await writeFile(join(root, 'lib/systemd/systemd'), ''); // a systemd machine: the firewall units are written
  await mkdir(join(root, 'run/systemd/system'), { recursive: true }); // where systemd runs: relays are installed as units

  const ns = await withNetns(t, 'units');
  const cli = (args: string[]) => ns.exec([node, join(clone, 'dist/cli/main.js'), ...args, '--files-root', root], { allowFail: true, timeoutMs: 120_000 });
  const up = await cli(['up', '--persist', 'systemd']);
  assert.equal(up.code, 0, up.stderr);
  const fwd = await cli(['forward', '18080', '--install', '--to', '127.0.0.1:18081']);
  assert.equal(fwd.code, 0, fwd.stderr);

  const unitDir = join(root, 'etc/systemd/system');
  const units = (await readdir(unitDir)).filter((f) => f.endsWith('.service')).sort();
  assert.deepEqual(units, ['hostalias-firewall.service', 'hostalias-forward-18080-tcp.service', 'hostalias.service']);
  const execStartOf = async (unit: string) => execStart(await readFile(join(unitDir, unit), 'utf8'));
  for (const unit of units) {
    const text = await readFile(join(unitDir, unit), 'utf8');
    assert.ok(!text.includes(clone) && !text.includes(node) && !text.includes(process.execPath), `${unit} names neither the clone nor a user's node`);
  }
  assert.deepEqual((await execStartOf('hostalias-forward-18080-tcp.service')).slice(0, 3), [
    `${RUNTIME_CURRENT}/node`,
    `${RUNTIME_CURRENT}/main.js`,
    'forward',
  ]);
  const versions = (await readdir(join(root, RUNTIME_DIR))).sort();
  assert.equal(versions.length, 2, `one version and current: ${versions.join(' ')}`);

  await rm(clone, { recursive: true });
  await rm(join(base, 'node-elsewhere'), { recursive: true });

  const booted = await withNetns(t, 'unitsboot');
  for (const unit of ['hostalias.service', 'hostalias-firewall.service']) await booted.exec(rooted(await execStartOf(unit), root));
  assert.ok((await loAddrs(booted)).includes(`${ALIAS}/32 lo:hostalias`), 'the alias unit brings the alias back');
  const live = (await ns.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout;
  assert.equal((await booted.exec(['nft', 'list', 'table', 'inet', 'hostalias'])).stdout, live, 'the firewall unit loads the same rules');

  const server = await startReplyServer(booted, { host: '127.0.0.1', port: 18081, reply: 'via-installed-copy\n' });
  t.after(() => server.stop());
  assert.equal((await tcpRequest(booted, ALIAS, 18080, { timeoutMs: 1000 })).stdout, '', 'negative control: nothing listens on the alias yet');
  const relay = booted.spawn(rooted(await execStartOf('hostalias-forward-18080-tcp.service'), root));
  t.after(() => relay.kill('SIGTERM'));
  let got = '';
  for (let i = 0; i < 50 && got === ''; i++) {
    got = (await tcpRequest(booted, ALIAS, 18080, { timeoutMs: 1000 })).stdout;
    if (got === '') await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(got, 'via-installed-copy\n', 'the forward unit runs from the installed copy');

  const down = await ns.exec([process.execPath, join(repoRoot(), 'dist/cli/main.js'), 'down', '--files-root', root], { allowFail: true });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(join(root, RUNTIME_DIR)), false, 'down removes the installed copy');
});

test('CI line of docs/ci.md: `npx hostalias up` in a project that depends on hostalias runs it through passwordless sudo without a terminal; `sudo npx hostalias` asks the registry instead', {
  timeout: 300_000,
}, async (t) => {
  const base = await tempRoot(t, 'ci');
  await chmod(base, 0o755);
  const home = join(base, 'home');
  // A project with hostalias installed as a dependency, as `npm ci` lays it out.
  const app = join(home, 'app');
  const pkg = join(app, 'node_modules/hostalias');
  await mkdir(pkg, { recursive: true });
  await execArgv(['tar', '-xzf', tarball, '-C', pkg, '--strip-components=1']);
  await mkdir(join(app, 'node_modules/.bin'));
  await symlink('../hostalias/dist/cli/hostalias', join(app, 'node_modules/.bin/hostalias'));
  await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'app', version: '1.0.0', devDependencies: { hostalias: VERSION } }, null, 2)}\n`);
  // The same package installed with `npm install -g` into the user's own prefix (setup-node's, nvm's).
  const prefix = join(home, 'prefix');
  await mkdir(join(prefix, 'lib/node_modules/hostalias'), { recursive: true });
  await mkdir(join(prefix, 'bin'));
  await execArgv(['tar', '-xzf', tarball, '-C', join(prefix, 'lib/node_modules/hostalias'), '--strip-components=1']);
  await symlink('../lib/node_modules/hostalias/dist/cli/hostalias', join(prefix, 'bin/hostalias'));
  const user = await makeUser(t, home, true);
  await execArgv(['chown', '-R', `${user}:`, home]);
  const root = join(base, 'root');
  await mkdir(root);

  // No terminal (a CI step), the user's npm, npm's registry a closed port: a lookup would fail.
  const userEnv = ['/usr/bin/env', '-i', `HOME=${home}`, `PATH=${join(prefix, 'bin')}:/usr/bin:/bin`, 'LC_ALL=C', 'npm_config_registry=http://127.0.0.1:9/'];
  const ns = await withNetns(t, 'ci');
  const step = await ns.exec(['runuser', '-u', user, '--', ...userEnv, 'npx', 'hostalias', 'up', '--persist', 'none', '--files-root', root], {
    cwd: app,
    allowFail: true,
    timeoutMs: 120_000,
  });
  assert.equal(step.code, 0, `${step.stdout}\n${step.stderr}`);
  // The re-run names this node and the project's main.js (after the variables it passes on, such as HOSTALIAS_RERUN).
  const rerun = new RegExp(`running it again with sudo:\\n  sudo (\\S+=\\S* )*${literal(`${process.execPath} ${join(pkg, 'dist/cli/main.js')} up`)}`);
  assert.match(step.stderr, rerun);
  assert.ok((await loAddrs(ns)).includes(`${ALIAS}/32 lo:hostalias`), 'the alias is up in the namespace');

  // Negative control: root's npx, outside the project, with the user's global install on the user's
  // PATH only, asks the registry for a package called hostalias (here the local one, which has none).
  const missesBefore = registry.misses.length;
  const rootNpx = await execArgv(
    [
      'runuser',
      '-u',
      user,
      '--',
      ...userEnv,
      'sudo',
      '-n',
      'env',
      `npm_config_registry=${registry.url}`,
      `npm_config_cache=${join(base, 'root-cache')}`,
      'npx',
      'hostalias',
      '--version',
    ],
    { cwd: home, allowFail: true, timeoutMs: 120_000 },
  );
  const asked = registry.misses.splice(missesBefore);
  assert.notEqual(rootNpx.code, 0, `sudo npx hostalias must not run the installed package: ${rootNpx.stdout}`);
  assert.ok(
    asked.some((m) => /\/hostalias\b/.test(m)),
    `root's npx asked the registry for hostalias: ${asked.join(', ')}; ${rootNpx.stderr}`,
  );
  // The user's own npx, in the same place, finds the same global install.
  const own = await execArgv(['runuser', '-u', user, '--', ...userEnv, `npm_config_prefix=${prefix}`, 'npx', 'hostalias', '--version'], {
    cwd: home,
    allowFail: true,
    timeoutMs: 120_000,
  });
  assert.equal(own.code, 0, own.stderr);
  assert.equal(own.stdout.trim(), VERSION);
});
