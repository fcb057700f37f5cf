/**
 * The one builder of fix lines that run hostalias: for each kind of reader (a user whose
 * `hostalias` re-runs itself, an nvm user with HOSTALIAS_NO_SUDO=1, root in a shell, root under
 * sudo), each kind of command gets the prefix that works when pasted; and detectInvocation finds
 * those readers from PATH, the entry point and the sudo variables.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { RERUN_ENV, detectInvocation, hostaliasOnPathIs } from '../../src/exec/invocation.js';
import { selfPath } from '../../src/exec/runtime.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { DEFAULT_INVOCATION, fixCommand, hostaliasLine, rootEnv, type Invocation } from '../../src/model/invocation.js';
import { contextHost } from '../../src/docker/engine-api.js';

const NODE = '/home/me/.nvm/versions/node/v20.19.0/bin/node';
const MAIN = '/home/me/.nvm/versions/node/v20.19.0/lib/node_modules/hostalias/dist/cli/main.js';

test('hostaliasLine: user commands as the reader, changing commands through the re-run where it happens, root commands as root', () => {
  const rerun: Invocation = { self: ['hostalias'], root: ['sudo', NODE, MAIN], rerun: true };
  assert.equal(hostaliasLine(rerun, 'up --ip 10.253.253.253'), 'hostalias up --ip 10.253.253.253');
  assert.equal(hostaliasLine(rerun, ['forward', '5173'], 'user'), 'hostalias forward 5173');
  assert.equal(hostaliasLine(rerun, 'doctor', 'root'), `sudo ${NODE} ${MAIN} doctor`, 'doctor does not re-run itself: root by path');
  const noSudo: Invocation = { ...rerun, rerun: false };
  assert.equal(hostaliasLine(noSudo, ['expose', '5432']), `sudo ${NODE} ${MAIN} expose 5432`, 'HOSTALIAS_NO_SUDO=1: the command the re-run would run');
  assert.equal(hostaliasLine(noSudo, 'status', 'user'), 'hostalias status');
  assert.equal(hostaliasLine(rerun, ['up', '--names', 'a b']), "hostalias up --names 'a b'", 'words are quoted for the shell');
  assert.equal(hostaliasLine(DEFAULT_INVOCATION, 'doctor', 'root'), 'sudo hostalias doctor');
});

test('fixCommand names the target the command looked at: --files-root for a live namespace, --root for an image', () => {
  const inv: Invocation = { self: [NODE, MAIN], root: [NODE, MAIN], rerun: true };
  assert.equal(fixCommand({ fs: new SystemFs('/tmp/x y'), live: true, invocation: inv }, 'up'), `${NODE} ${MAIN} up --files-root '/tmp/x y'`);
  assert.equal(fixCommand({ fs: new SystemFs('/mnt/img'), live: false, invocation: inv }, ['expose', '5432']), `${NODE} ${MAIN} expose 5432 --root /mnt/img`);
  assert.equal(fixCommand({ fs: new SystemFs('/'), live: true }, 'up'), 'hostalias up', 'no invocation: the default');
});

test('detectInvocation: by name only when PATH finds this installation; root under sudo prints for the user who ran sudo', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-fix-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The tests are no CLI: the library's reader gets the bundle of this checkout.
  const main = realpathSync(join(dirname(fileURLToPath(import.meta.url)), '../../../dist/cli/main.js'));
  assert.notEqual(selfPath(), main);
  const bin = join(dir, 'bin');
  const other = join(dir, 'other');
  await mkdir(bin);
  await mkdir(other);
  await symlink(main, join(bin, 'hostalias'));
  await writeFile(join(other, 'hostalias'), '#!/bin/sh\n');
  await chmod(join(other, 'hostalias'), 0o755);
  assert.equal(hostaliasOnPathIs(main, bin), true, 'a bin link to main.js');
  assert.equal(hostaliasOnPathIs(main, `${other}:${bin}`), false, 'the first hostalias on PATH is another one');
  assert.equal(hostaliasOnPathIs(main, other), false);

  const user = detectInvocation({ env: { PATH: bin }, isRoot: false });
  assert.deepEqual(user, { self: ['hostalias'], root: ['sudo', process.execPath, main], rerun: false }, 'a library does not re-run itself');
  const stranger = detectInvocation({ env: { PATH: other }, isRoot: false });
  assert.deepEqual(stranger.self, [process.execPath, main], 'PATH finds another hostalias: absolute paths');
  const rootShell = detectInvocation({ env: { PATH: '/usr/bin' }, isRoot: true });
  assert.deepEqual(rootShell, { self: [process.execPath, main], root: [process.execPath, main], rerun: true });
  const underSudo = detectInvocation({ env: { PATH: '/usr/bin', SUDO_USER: 'me' }, isRoot: true });
  assert.deepEqual(underSudo, { self: [process.execPath, main], root: ['sudo', process.execPath, main], rerun: false }, 'the user who ran sudo reads it');
  assert.equal(hostaliasLine(underSudo, 'up'), `sudo ${process.execPath} ${main} up`);
  const rerunByName = detectInvocation({ env: { PATH: '/usr/bin', SUDO_USER: 'me', [RERUN_ENV]: 'name' }, isRoot: true });
  assert.equal(hostaliasLine(rerunByName, 'up'), 'hostalias up', "the re-run of a user's `hostalias`: their name works");
  assert.equal(hostaliasLine(rerunByName, 'doctor', 'root'), `sudo ${process.execPath} ${main} doctor`);
  const secureFinds = detectInvocation({ env: { PATH: bin, SUDO_USER: 'me' }, isRoot: true });
  assert.equal(hostaliasLine(secureFinds, 'doctor', 'root'), 'sudo hostalias doctor', "sudo's own PATH finds this installation");
});

test('rootEnv: the variables that name the user engine go to root, XDG_RUNTIME_DIR only with a rootless socket in it; contextHost resolves a context', async (t) => {
  assert.deepEqual(rootEnv({ HOME: '/home/me', XDG_RUNTIME_DIR: '/run/user/1000' }), {}, 'nothing set: nothing passed (no noise in fix lines)');
  assert.deepEqual(rootEnv({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock', XDG_RUNTIME_DIR: '/run/user/1000' }), {
    DOCKER_HOST: 'unix:///run/user/1000/docker.sock',
    XDG_RUNTIME_DIR: '/run/user/1000',
  });
  assert.deepEqual(rootEnv({ CONTAINER_HOST: 'unix:///run/user/1000/podman/podman.sock', XDG_RUNTIME_DIR: '/run/user/1000/' }), {
    CONTAINER_HOST: 'unix:///run/user/1000/podman/podman.sock',
    XDG_RUNTIME_DIR: '/run/user/1000/',
  });
  assert.deepEqual(rootEnv({ DOCKER_CONTEXT: 'colima' }), { DOCKER_CONTEXT: 'colima' }, 'a context hostalias could not read: by name');
  assert.deepEqual(rootEnv({ DOCKER_CONTEXT: 'rootless' }, 'unix:///run/user/1000/docker.sock'), { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' });
  assert.deepEqual(rootEnv({ DOCKER_HOST: 'tcp://192.0.2.5:2375' }, 'unix:///ignored.sock'), { DOCKER_HOST: 'tcp://192.0.2.5:2375' }, 'DOCKER_HOST wins');

  const dir = await mkdtemp(join(tmpdir(), 'hal-ctx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const id = createHash('sha256').update('rootless').digest('hex');
  await mkdir(join(dir, 'contexts', 'meta', id), { recursive: true });
  await writeFile(
    join(dir, 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Name: 'rootless', Endpoints: { docker: { Host: 'unix:///run/user/1000/docker.sock' } } }),
  );
  await writeFile(join(dir, 'config.json'), JSON.stringify({ currentContext: 'rootless' }));
  assert.equal(await contextHost({ DOCKER_CONFIG: dir }), 'unix:///run/user/1000/docker.sock', '`docker context use rootless`');
  assert.equal(await contextHost({ DOCKER_CONFIG: dir, DOCKER_CONTEXT: 'default' }), null, 'the default context: root asks its default too');
  assert.equal(await contextHost({ DOCKER_CONFIG: dir, DOCKER_HOST: 'unix:///x.sock' }), null);

  const inv = detectInvocation({ env: { PATH: '/usr/bin', DOCKER_HOST: 'unix:///tmp/lab/docker.sock' }, isRoot: false });
  assert.equal(
    hostaliasLine(inv, 'doctor', 'root'),
    `sudo DOCKER_HOST=unix:///tmp/lab/docker.sock ${process.execPath} ${inv.self[1]} doctor`,
    'root doctor asks the same engine',
  );
});
