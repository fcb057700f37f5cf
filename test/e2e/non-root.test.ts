/**
 * A normal user (PATH without /usr/sbin, as on Debian) runs doctor and `up --dry-run` on a machine
 * root set up: the tools in /usr/sbin are found, whatever only root may read is said to need root
 * (never reported missing), and a dry run reads what it can and names what it could not. With
 * hostalias's nft table flushed, the user's doctor says that root is needed to tell, and root's
 * doctor names the cause; with the exposed service stopped, doctor names its port.
 */
import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLabUser } from '../lab/lab-user.js';
import { cliPath, runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { cliFix, tempRoot } from '../support/e2e.js';

interface Finding {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix: string | null;
}

const PORT = 15432;

test('a user without /usr/sbin on PATH: doctor and up --dry-run find nft, say what needs root, and plan from what they can read', async (t) => {
  const ns = await withNetns(t, 'nonroot');
  const root = await tempRoot(t, 'nonroot');
  await chmod(root, 0o755);
  const base = await tempRoot(t, 'nonroot-home');
  await chmod(base, 0o755);
  const user = await createLabUser('halnr', join(base, 'home'));
  t.after(() => user.remove());
  const pg = await startReplyServer(ns, { host: '127.0.0.1', port: PORT });
  t.after(() => pg.stop());
  assert.equal((await runCli(ns, ['up', '--files-root', root, '--persist', 'none'])).code, 0);
  const exposed = await runCli(ns, ['expose', String(PORT), '--files-root', root]);
  assert.equal(exposed.code, 0, exposed.stderr);

  const asUser = async (args: string[]) => {
    const argv = ['runuser', '-u', user.name, '--', '/usr/bin/env', '-i', `HOME=${user.home}`, 'PATH=/usr/local/bin:/usr/bin:/bin', 'LC_ALL=C'];
    return ns.exec([...argv, process.execPath, cliPath(), ...args], { allowFail: true, timeoutMs: 120_000 });
  };
  const doctor = async (as: 'user' | 'root'): Promise<Finding[]> => {
    const args = ['doctor', '--json', '--files-root', root];
    const r = as === 'user' ? await asUser(args) : await runCli(ns, args);
    return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
  };
  const listener = (fs: Finding[]) => fs.find((f) => f.id === 'listeners' && f.message.includes(`${PORT}`));
  const rootDoctor = `sudo ${cliFix(`doctor --files-root ${root}`)}`;

  const mine = await doctor('user');
  const fw = mine.filter((f) => f.id === 'firewall');
  assert.deepEqual(
    fw.map((f) => [f.status, f.message, f.fix]),
    [['warn', 'reading the firewall needs root: not checked', rootDoctor]],
  );
  assert.deepEqual(
    mine.filter((f) => /not installed|apt-get install/.test(`${f.message} ${f.fix}`)),
    [],
    'nft is in /usr/sbin: nothing is reported missing',
  );
  assert.equal(listener(mine)?.status, 'ok');
  assert.match(listener(mine)?.message ?? '', /exposed \(kernel rules\).*while the rules are loaded, which needs root to tell/);

  const dry = await asUser(['up', '--dry-run', '--files-root', root]);
  assert.equal(dry.code, 0, `a dry run needs no root: ${dry.stderr}`);
  assert.ok(dry.stdout.includes(`note: not root: could not read ${root}/var/lib/hostalias/firewall.json, \`nft list table inet hostalias\``), dry.stdout);
  assert.ok(dry.stdout.includes(`the exact plan: sudo ${cliFix(`up --dry-run --files-root ${root}`)}\n`), dry.stdout);
  const rootDry = await runCli(ns, ['up', '--dry-run', '--files-root', root]);
  assert.match(rootDry.stdout, /^Nothing to do: already up/, 'negative control: root reads everything and has nothing to do');
  assert.doesNotMatch(rootDry.stdout, /not root/);

  // The LAN guard's and the expose's rules gone: the user can't tell, root names the cause and the fix.
  await ns.exec(['nft', 'flush', 'table', 'inet', 'hostalias']);
  const flushed = await doctor('user');
  assert.match(listener(flushed)?.message ?? '', /which needs root to tell/);
  assert.deepEqual(
    flushed.filter((f) => f.id === 'firewall').map((f) => f.fix),
    [rootDoctor],
  );
  const seen = await doctor('root');
  const rules = seen.find((f) => f.id === 'firewall' && f.status === 'fail');
  assert.match(rules?.message ?? '', /hostalias rules for the LAN guard and exposed ports 15432\/tcp are not as `up` would set them/);
  assert.equal(rules?.fix, cliFix(`up --files-root ${root}`));
  assert.equal(listener(seen)?.status, 'warn');
  assert.match(listener(seen)?.message ?? '', /exposed, but the kernel rules that carry 10\.254\.254\.254:15432 to it are not loaded: containers are refused/);
  assert.equal(listener(seen)?.fix, cliFix(`up --files-root ${root}`));
  const fixed = await ns.exec(['sh', '-c', rules?.fix ?? 'false'], { allowFail: true });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(listener(await doctor('root'))?.message ?? '', /exposed \(kernel rules\), containers reach it at 10\.254\.254\.254:15432$/);

  // The exposed service stopped: its port is named, and the fix is to start it, not to rebind it.
  await pg.stop();
  const stopped = (await doctor('user')).find((f) => f.id === 'listeners' && f.status !== 'ok');
  assert.equal(stopped?.status, 'warn');
  assert.equal(
    stopped?.message,
    `15432/tcp is exposed (kernel rules to 127.0.0.1:15432), but nothing listens on port 15432: containers are refused at 10.254.254.254:15432 until the service runs again`,
  );
  assert.match(stopped?.fix ?? '', /^start the service on 127\.0\.0\.1:15432/);
  assert.doesNotMatch(stopped?.fix ?? '', /0\.0\.0\.0/, 'never a wider address than the one it had');
});
