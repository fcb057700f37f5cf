/**
 * What `down` leaves, said and cleaned by whom may touch it: a `hostalias forward` started by hand
 * that still listens on the alias is named (pid, port, how to stop it) and left running; the
 * user's own folders (~/.cache/hostalias, ~/.local/state/hostalias) are removed by the user's
 * process after the sudo re-run, and named (not touched) by root when `sudo … down` is typed by
 * hand. A plain `down` (no --files-root) runs in a mount namespace where /var/lib is a test
 * folder, in a lab network namespace, as an nvm user with passwordless sudo.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { execArgv, stopChild, waitOutput } from '../lab/exec.js';
import { repoRoot, runCli, withNetns } from '../lab/netns.js';
import { createNvmUser } from '../lab/nvm-user.js';
import { mountStateAt } from '../lab/state-mount.js';
import { loAddrs, tempRoot } from '../support/e2e.js';

const ALIAS = '10.254.254.254';
let packDir = '';
let tarball = '';

before(async () => {
  packDir = await mkdtemp(`${LAB_TMP_PREFIX}downpack-`);
  const r = await execArgv(['npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: repoRoot(), timeoutMs: 300_000 });
  tarball = join(packDir, (JSON.parse(r.stdout) as Array<{ filename: string }>)[0]?.filename ?? '');
  await chmod(packDir, 0o755);
});

after(() => rm(packDir, { recursive: true, force: true }));

test('down names a hand-started forward still on the alias and removes the user folders as the user; a hand-typed sudo down names them instead', {
  timeout: 600_000,
}, async (t) => {
  // A plain `down` reads /etc and /usr/local/lib too: this machine must have none of hostalias there.
  for (const p of ['/etc/hostalias', '/usr/local/lib/hostalias', '/var/lib/hostalias']) assert.equal(existsSync(p), false, `${p} exists on this machine`);
  const ns = await withNetns(t, 'downleft');
  const root = await tempRoot(t, 'downleft');
  const user = await createNvmUser(t, tarball);
  const up = async () => {
    const r = await runCli(ns, ['up', '--files-root', root, '--persist', 'none', '--no-lan-guard', '--no-hosts-file']);
    assert.equal(r.code, 0, r.stderr);
  };
  await up();
  const mount = await mountStateAt(ns, join(root, 'var/lib'));
  // The user, in that mount namespace: hostalias reads its state at /var/lib as a plain run does.
  const asUser = (line: string) =>
    ns.exec(mount.argv(['runuser', '-u', user.name, '--', '/usr/bin/env', '-i', `HOME=${user.home}`, `PATH=${user.path}`, 'LC_ALL=C', '/bin/sh', '-c', line]), {
      allowFail: true,
      timeoutMs: 180_000,
    });
  const folders = [join(user.home, '.cache/hostalias'), join(user.home, '.local/state/hostalias')];
  const makeFolders = async () => {
    const r = await asUser(`mkdir -p ${folders.join(' ')} && echo x > ${folders[0]}/run.cache && echo x > ${folders[1]}/journal.log`);
    assert.equal(r.code, 0, r.stderr);
  };

  await makeFolders();
  const relay = ns.spawn(
    mount.argv(['runuser', '-u', user.name, '--', '/usr/bin/env', '-i', `HOME=${user.home}`, `PATH=${user.path}`, 'hostalias', 'forward', '18090']),
  );
  t.after(() => stopChild(relay));
  await waitOutput(relay, 'forwarding', 30_000);

  const down = await asUser('hostalias down');
  assert.equal(down.code, 0, down.stderr);
  const pid = /\(pid (\d+)\)/.exec(down.stdout)?.[1];
  assert.ok(pid, down.stdout);
  assert.match(
    down.stdout,
    new RegExp(
      `^note: still listening on ${ALIAS.replace(/\./g, '\\.')}:18090/tcp: \`hostalias forward 18090\` \\(pid ${pid}\\), a relay down does not stop: stop it with kill ${pid} \\(or Ctrl-C in its terminal\\)$`,
      'm',
    ),
  );
  assert.equal(relay.exitCode, null, 'left running: down names it, the user stops it');
  for (const f of folders) {
    assert.ok(down.stdout.includes(`✓ removed ${f} (`), down.stdout);
    assert.equal(existsSync(f), false, `${f} removed`);
  }
  assert.ok(!(await loAddrs(ns)).some((a) => a.startsWith(ALIAS)), 'the alias is gone');
  assert.equal((await asUser(`kill ${pid}`)).code, 0, 'the named command stops it');
  assert.notEqual(await new Promise((r) => relay.once('exit', r)), null);

  // `sudo … down` typed by hand: root names the user's folders and leaves them.
  await up();
  await makeFolders();
  const byHand = await asUser(`sudo ${user.node} ${user.main} down`);
  assert.equal(byHand.code, 0, byHand.stderr);
  assert.match(
    byHand.stdout,
    new RegExp(`^note: ${user.name}'s own hostalias folders are left: ${folders[0]} .*; as ${user.name}: rm -r -- ${folders.join(' ')}$`, 'm'),
  );
  for (const f of folders) assert.equal(existsSync(f), true, `${f} left to its user`);
});
