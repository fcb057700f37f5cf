/**
 * Fix lines are promises: a user whose node comes from nvm (hostalias installed under ~/.nvm,
 * passwordless sudo, no hostalias in sudo's secure_path) breaks nothing by pasting them. In one lab
 * namespace with a real dockerd, ten things are broken for real; for each, every fix doctor --json
 * prints for the broken check is pasted through sh as that user, must succeed, and doctor must
 * pass the check afterwards. Firewall checks need root to read the rules: the user runs the root
 * doctor the unprivileged one names. First, the sudo re-run keeps the user's engine (DOCKER_HOST):
 * root's doctor with that engine agrees with `up`.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { startDockerd, type Dockerd } from '../lab/dockerd.js';
import { execArgv } from '../lab/exec.js';
import { createNetns, repoRoot, startReplyServer, type Netns } from '../lab/netns.js';
import { createNvmUser, type NvmUser } from '../lab/nvm-user.js';
import { tempRoot } from '../support/e2e.js';

interface Finding {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix: string | null;
}

const ALIAS = '10.254.254.254';
let packDir = '';
let tarball = '';
let ns: Netns;
let d: Dockerd;
let user: NvmUser;
let root = '';
let env: Record<string, string>;
/** What the file's tests share goes at the end of the file, newest first. */
const cleanups: Array<() => unknown> = [];
const fileScope = { after: (fn: () => unknown) => void cleanups.push(fn) };

before(async () => {
  packDir = await mkdtemp(`${LAB_TMP_PREFIX}fixpack-`);
  const r = await execArgv(['npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: repoRoot(), timeoutMs: 300_000 });
  tarball = join(packDir, (JSON.parse(r.stdout) as Array<{ filename: string }>)[0]?.filename ?? '');
  await chmod(packDir, 0o755);
  ns = await createNetns('fixes');
  d = await startDockerd(ns);
  // The user's own engine: it may talk to it (as a member of the docker group would).
  await chmod(d.dir, 0o711);
  await chmod(d.host.replace(/^unix:\/\//, ''), 0o666);
  // A network whose bridge has its own name: only the engine can say it is a container network.
  await d.docker(['network', 'create', '-o', 'com.docker.network.bridge.name=halnet0', 'halnet']);
  env = { DOCKER_HOST: d.host };
  user = await createNvmUser(fileScope, tarball);
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await ns?.destroy();
  await rm(packDir, { recursive: true, force: true });
});

const nonOk = (fs: Finding[], checks: readonly string[]) => fs.filter((f) => checks.includes(f.id) && f.status !== 'ok');

async function doctorJson(argv: string[]): Promise<Finding[]> {
  const r = await user.run(ns, argv, env);
  try {
    return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

test('the sudo re-run keeps the user engine (DOCKER_HOST): root doctor with that engine agrees with up', { timeout: 600_000 }, async (t) => {
  // Negative control, the re-run as it was: sudo without the engine's variables.
  const old = await tempRoot(t, 'fixes-old');
  await chmod(old, 0o755);
  const bare = ['sudo', user.node, user.main];
  const oldUp = await user.run(ns, [...bare, 'up', '--files-root', old, '--persist', 'none'], env);
  assert.equal(oldUp.code, 0, oldUp.stderr);
  const oldDoctor = await doctorJson(['sudo', `DOCKER_HOST=${d.host}`, user.node, user.main, 'doctor', '--json', '--files-root', old]);
  assert.ok(
    oldDoctor.some(
      (f) => f.id === 'firewall' && f.status === 'fail' && /network halnet \(bridge halnet0\): hostalias's LAN guard drops its traffic/.test(f.message),
    ),
    `root doctor with the engine sees the bridge up took for a LAN: ${JSON.stringify(oldDoctor.filter((f) => f.id === 'firewall'))}`,
  );
  assert.match((await user.run(ns, [...bare, 'up', '--files-root', old], env)).stdout, /already up/, 'while up, without the engine, calls it already up');
  assert.equal((await user.run(ns, [...bare, 'down', '--files-root', old], env)).code, 0);

  root = await mkdtemp(`${LAB_TMP_PREFIX}fixes-root-`);
  await chmod(root, 0o755);
  const up = await user.run(ns, ['hostalias', 'up', '--files-root', root, '--persist', 'systemd'], env);
  assert.equal(up.code, 0, up.stderr);
  assert.ok(
    up.stderr.includes(
      `running it again with sudo:\n  sudo DOCKER_HOST=${d.host} HOSTALIAS_RERUN=name ${user.node} ${user.main} up --files-root ${root} --persist systemd\n`,
    ),
    up.stderr,
  );
  const mine = await doctorJson(['hostalias', 'doctor', '--json', '--files-root', root]);
  const rootDoctor = mine.find((f) => f.id === 'firewall')?.fix ?? '';
  assert.equal(rootDoctor, `sudo DOCKER_HOST=${d.host} ${user.node} ${user.main} doctor --files-root ${root}`, 'the root doctor asks the same engine');
  const seen = await doctorJson(['sh', '-c', `${rootDoctor} --json`]);
  assert.deepEqual(nonOk(seen, ['firewall', 'docker']), [], 'root doctor agrees with up');
  assert.match((await user.run(ns, ['hostalias', 'up', '--files-root', root], env)).stdout, /already up/);
  // What the user's docker sees is what root's doctor saw.
  assert.match(
    seen
      .filter((f) => f.id === 'docker')
      .map((f) => f.message)
      .join('\n'),
    /bridges: .*halnet0/,
  );
});

interface Breakage {
  name: string;
  checks: string[];
  /** Which doctor shows it: the user's, or (the firewall) the root doctor the user's names. */
  doctor: 'user' | 'root';
  apply(): Promise<void>;
  /** Puts back what the fixes left on purpose but later breakages must not meet (the test's own clean-up). */
  restore?(): Promise<void>;
}

test('ten things broken: every fix doctor prints, pasted by the nvm user, succeeds and makes the check pass', { timeout: 1_200_000 }, async (t) => {
  assert.ok(root !== '' && user, 'set up by the test before');
  t.after(() => rm(root, { recursive: true, force: true }));
  const mine = () => doctorJson(['hostalias', 'doctor', '--json', '--files-root', root]);
  const rootDoctor = (await mine()).find((f) => f.id === 'firewall')?.fix ?? '';
  const doctor = (as: 'user' | 'root') => (as === 'user' ? mine() : doctorJson(['sh', '-c', `${rootDoctor} --json`]));
  const unit = join(root, 'etc/systemd/system/hostalias.service');
  const ip = (...args: string[]) => ns.exec(['ip', ...args]);
  const server = await startReplyServer(ns, { host: '127.0.0.1', port: 15432 });
  t.after(() => server.stop());

  const breakages: Breakage[] = [
    { name: 'alias removed from lo', checks: ['alias'], doctor: 'user', apply: async () => void (await ip('addr', 'del', `${ALIAS}/32`, 'dev', 'lo')) },
    {
      name: 'alias as /24 (ifconfig style)',
      checks: ['alias', 'route-conflict'],
      doctor: 'user',
      apply: async () => {
        await ip('addr', 'del', `${ALIAS}/32`, 'dev', 'lo');
        await ip('addr', 'add', `${ALIAS}/24`, 'dev', 'lo');
      },
    },
    {
      name: 'boot unit edited by hand',
      checks: ['persistence'],
      doctor: 'user',
      apply: async () => writeFile(unit, (await readFile(unit, 'utf8')).replace(`addr replace ${ALIAS}`, 'addr replace 10.254.254.1')),
    },
    {
      name: 'boot unit disabled (wants link removed)',
      checks: ['persistence'],
      doctor: 'user',
      apply: () => rm(join(root, 'etc/systemd/system/multi-user.target.wants/hostalias.service')),
    },
    { name: 'service on 127.0.0.1 only', checks: ['listeners'], doctor: 'user', apply: async () => undefined },
    {
      name: 'iptables rule drops docker0',
      checks: ['firewall'],
      doctor: 'root',
      apply: async () => void (await ns.exec(['iptables', '-I', 'INPUT', '-i', 'docker0', '-j', 'DROP'])),
    },
    {
      name: 'iptables INPUT policy drop',
      checks: ['firewall'],
      doctor: 'root',
      apply: async () => {
        await ns.exec(['iptables', '-P', 'INPUT', 'DROP']);
      },
      // The fix accepts the alias as it is now; the later move of the alias must not meet the policy.
      restore: async () => void (await ns.exec(['iptables', '-P', 'INPUT', 'ACCEPT'])),
    },
    {
      name: 'nft input chain drops docker0',
      checks: ['firewall'],
      doctor: 'root',
      apply: async () => {
        await ns.exec([
          'nft',
          'add table inet filter; add chain inet filter input { type filter hook input priority 0; policy accept; }; add rule inet filter input iifname "docker0" drop',
        ]);
      },
    },
    {
      name: "hostalias's nft table deleted",
      checks: ['firewall', 'listeners'],
      doctor: 'root',
      apply: async () => void (await ns.exec(['nft', 'delete', 'table', 'inet', 'hostalias'])),
    },
    {
      name: 'a VPN route covers the alias',
      checks: ['route-conflict'],
      doctor: 'user',
      apply: async () => {
        await ip('link', 'add', 'halvpn0', 'type', 'veth', 'peer', 'name', 'halvpn1');
        await ip('link', 'set', 'halvpn1', 'up');
        await ip('link', 'set', 'halvpn0', 'up');
        await ip('route', 'add', '10.254.0.0/16', 'dev', 'halvpn0');
      },
    },
  ];

  const table: string[] = ['| # | broken | doctor | check | pasted fix | exit | check after |', '|---|---|---|---|---|---|---|'];
  for (const [i, b] of breakages.entries()) {
    await b.apply();
    const pasted: Array<{ check: string; fix: string; code: number }> = [];
    let left = nonOk(await doctor(b.doctor), b.checks);
    assert.ok(left.length > 0, `${b.name}: doctor sees it (${b.checks.join(', ')})`);
    while (left.length > 0) {
      assert.ok(pasted.length < 4, `${b.name}: still failing after ${pasted.length} fixes: ${JSON.stringify(left)}`);
      const f = left.find((x) => x.fix) ?? assert.fail(`${b.name}: no fix printed for ${JSON.stringify(left)}`);
      const r = await user.paste(ns, f.fix ?? '', env);
      pasted.push({ check: f.id, fix: f.fix ?? '', code: r.code });
      assert.equal(r.code, 0, `${b.name}: the pasted \`${f.fix}\` failed:\n${r.stderr}${r.stdout}`);
      left = nonOk(await doctor(b.doctor), b.checks);
    }
    const short = (s: string) => s.replaceAll(user.node, 'NODE').replaceAll(user.main, 'MAIN.JS').replaceAll(root, 'ROOT').replaceAll(d.host, 'unix://LAB');
    await b.restore?.();
    for (const p of pasted) table.push(`| ${i + 1} | ${b.name} | ${b.doctor} | ${p.check} | \`${short(p.fix)}\` | ${p.code} | ok |`);
  }
  t.diagnostic(`\n${table.join('\n')}`);
  // The user's root doctor, as printed, passes now (exit 0: nothing fails).
  const last = await user.paste(ns, rootDoctor, env);
  assert.equal(last.code, 0, last.stdout);
});
