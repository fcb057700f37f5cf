import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chown, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeBytes, encodeBytes } from '../../src/fs/bytes.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { withLock } from '../../src/engine/lock.js';
import { makeRoot } from '../support/rooted.js';

test('bytes: any byte sequence round-trips through decode/encode; valid UTF-8 decodes as usual', () => {
  const samples = [
    Buffer.from('127.0.0.1 localhost # caf\xe9\n', 'latin1'),
    Buffer.from('h\u00e9llo \u{1f480} \u2014 ok\n', 'utf8'),
    Buffer.from([0xed, 0xb0, 0x80, 0xc0, 0xaf, 0xf4, 0x90, 0x80, 0x80, 0xff, 0xfe, 0x80]),
    Buffer.from([0xef, 0xbb, 0xbf, 0x41]), // a BOM is kept
    Buffer.alloc(0),
  ];
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const buf of [...samples, all]) assert.deepEqual(encodeBytes(decodeBytes(buf)), buf);
  assert.equal(decodeBytes(Buffer.from('h\u00e9 \u{1f480}', 'utf8')), 'h\u00e9 \u{1f480}');
  assert.equal(encodeBytes('\u2014').toString('hex'), 'e28094');
});

test('write: an edited file keeps its bytes outside the edit, its inode, mode, owner and a symlink to it', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  await mkdir(join(root, 'etc'), { recursive: true });
  const real = join(root, 'etc/hosts.real');
  const original = Buffer.from('127.0.0.1\tlocalhost # caf\xe9\n', 'latin1');
  await writeFile(real, original, { mode: 0o600 });
  await chown(real, 65534, 65534);
  await symlink('hosts.real', join(root, 'etc/hosts'));
  const before = await stat(real);

  const text = await fs.read('/etc/hosts');
  assert.ok(text !== null);
  await fs.write('/etc/hosts', `${text}10.254.254.254\tlocal_host\n`, 0o644);
  const edited = await readFile(real);
  assert.deepEqual(edited.subarray(0, original.length), original, 'the Latin-1 byte is kept');
  await fs.write('/etc/hosts', text, 0o644);

  const after = await stat(real);
  assert.deepEqual(await readFile(real), original, 'byte-identical after the edit is undone');
  assert.equal(after.ino, before.ino);
  assert.equal(after.mode & 0o7777, 0o600);
  assert.equal(after.uid, 65534);
  assert.equal(after.gid, 65534);
  assert.equal(await readlink(join(root, 'etc/hosts')), 'hosts.real', 'the link is kept');
  assert.deepEqual((await readdir(join(root, 'etc'))).sort(), ['hosts', 'hosts.real'], 'no temp file left');
});

test('write: files and directories get explicit modes whatever the umask', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  const old = process.umask(0);
  t.after(() => process.umask(old));
  await fs.write('/etc/hostalias/firewall.nft', 'table inet hostalias {}\n', 0o644);
  await fs.write('/var/lib/hostalias/backups/etc_hosts', 'x', 0o600);
  await fs.symlink('/etc/systemd/system/multi-user.target.wants/hostalias.service', '/etc/systemd/system/hostalias.service');
  await fs.append('/var/lib/hostalias/journal.log', 'line\n');
  for (const dir of ['etc', 'etc/hostalias', 'var/lib/hostalias', 'var/lib/hostalias/backups', 'etc/systemd/system/multi-user.target.wants']) {
    assert.equal((await stat(join(root, dir))).mode & 0o7777, 0o755, dir);
  }
  assert.equal((await stat(join(root, 'etc/hostalias/firewall.nft'))).mode & 0o7777, 0o644);
  assert.equal((await stat(join(root, 'var/lib/hostalias/backups/etc_hosts'))).mode & 0o7777, 0o600);
  assert.equal((await stat(join(root, 'var/lib/hostalias/journal.log'))).mode & 0o7777, 0o600);
});

test("no symlink is followed inside hostalias's own directories; the refusal names the path (negative control: a plain dir works)", async (t) => {
  const root = await makeRoot(t);
  const victim = await makeRoot(t, { '/shadow': 'secret\n' });
  const fs = new SystemFs(root);
  await mkdir(join(root, 'var/lib'), { recursive: true });
  await symlink(victim, join(root, 'var/lib/hostalias'));
  await assert.rejects(
    fs.write('/var/lib/hostalias/state.json', '{}'),
    (e: Error) => e.message.includes(`${root}/var/lib/hostalias`) && /symbolic link/.test(e.message),
  );
  await assert.rejects(fs.append('/var/lib/hostalias/journal.log', 'x'), /symbolic link/);
  await assert.rejects(fs.read('/var/lib/hostalias/shadow'), /symbolic link/);
  assert.deepEqual(await readdir(victim), ['shadow']);

  const root2 = await makeRoot(t);
  const fs2 = new SystemFs(root2);
  await fs2.append('/var/lib/hostalias/x', '');
  await symlink(join(victim, 'shadow'), join(root2, 'var/lib/hostalias/journal.log'));
  await symlink(join(victim, 'shadow'), join(root2, 'var/lib/hostalias/state.json'));
  await assert.rejects(fs2.append('/var/lib/hostalias/journal.log', 'x'), (e: Error) => e.message.includes('journal.log'));
  await assert.rejects(fs2.read('/var/lib/hostalias/state.json'), /symbolic link/);
  await fs2.write('/var/lib/hostalias/state.json', '{}\n');
  assert.equal((await lstat(join(root2, 'var/lib/hostalias/state.json'))).isFile(), true, 'a write replaces the link, never follows it');
  assert.equal(await readFile(join(victim, 'shadow'), 'utf8'), 'secret\n');
  await fs2.write('/var/lib/hostalias/backups/etc_hosts', 'ok\n');
  assert.equal(await fs2.read('/var/lib/hostalias/backups/etc_hosts'), 'ok\n');
});

test('a FIFO as journal.log is refused at once, not blocked on', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  await fs.ensureDir('/var/lib/hostalias');
  assert.equal(spawnSync('mkfifo', [join(root, 'var/lib/hostalias/journal.log')]).status, 0);
  await assert.rejects(fs.append('/var/lib/hostalias/journal.log', 'x'), /journal\.log: it is not a regular file|journal\.log: it is a FIFO/);
  await assert.rejects(fs.read('/var/lib/hostalias/journal.log'), /FIFO/);
});

test('remove: empty directories hostalias made are removed with their last file', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  await fs.write('/etc/hostalias/firewall.nft', 'x');
  await fs.write('/var/lib/hostalias/backups/etc_hosts', 'x');
  await fs.remove('/etc/hostalias/firewall.nft');
  await fs.remove('/var/lib/hostalias/backups/etc_hosts');
  assert.deepEqual(await readdir(join(root, 'etc')), []);
  assert.deepEqual(await readdir(join(root, 'var/lib/hostalias')), []);
});

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.on('exit', r));
  return child.pid ?? 0;
}

test('lock: a lock left by a dead process is taken at once; a live holder still blocks', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  const lockDir = join(root, 'var/lib/hostalias/lock');
  await mkdir(lockDir, { recursive: true });
  await writeFile(join(lockDir, 'pid'), `${await deadPid()}\n`);
  assert.equal(await withLock(fs, async () => 'ran'), 'ran');
  await assert.rejects(lstat(lockDir), /ENOENT/, 'released');

  const sleeper = spawn('sleep', ['30']);
  t.after(() => sleeper.kill('SIGKILL'));
  await mkdir(lockDir, { recursive: true });
  await writeFile(join(lockDir, 'pid'), `${sleeper.pid}\n`);
  await assert.rejects(
    withLock(fs, async () => 'ran'),
    (e: Error & { code?: string }) => e.code === 'locked' && e.message.includes(`pid ${sleeper.pid}`),
  );
});

test('under a root, every link is followed inside it (an absolute target is a path under the root, `..` stops there): reads and writes never leave it', async (t) => {
  const root = await makeRoot(t);
  const outside = await makeRoot(t);
  await writeFile(join(outside, 'hosts'), 'outside\n');
  const fs = new SystemFs(root);
  await mkdir(join(root, 'etc'), { recursive: true });
  await symlink(join(outside, 'hosts'), join(root, 'etc/hosts')); // absolute: the image's own path
  await symlink(`${'../'.repeat(10)}${outside.slice(1)}`, join(root, 'etc/up')); // relative, climbing above the root
  await mkdir(join(root, outside), { recursive: true });
  await writeFile(join(root, outside, 'hosts'), 'inside\n');
  assert.equal(await fs.read('/etc/hosts'), 'inside\n', 'read at the link target inside the root');
  await fs.write('/etc/hosts', 'edited\n');
  await fs.write('/etc/up/new.conf', 'new\n');
  assert.deepEqual(await fs.list('/etc/up'), ['hosts', 'new.conf']);
  assert.equal(await readFile(join(root, outside, 'hosts'), 'utf8'), 'edited\n');
  assert.equal(await readFile(join(root, outside, 'new.conf'), 'utf8'), 'new\n');
  assert.equal(await fs.real('/etc/up/new.conf'), join(root, outside, 'new.conf'));
  await fs.remove('/etc/up/new.conf');
  assert.equal(await fs.exists('/etc/up/new.conf'), false);
  assert.deepEqual(await readdir(outside), ['hosts'], 'nothing made outside the root');
  assert.equal(await readFile(join(outside, 'hosts'), 'utf8'), 'outside\n', 'nothing written outside the root');
  assert.equal(await readlink(join(root, 'etc/hosts')), join(outside, 'hosts'), 'the link itself is kept');
});
