import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applySteps } from '../../src/engine/apply.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { linuxBackend } from '../../src/platform/linux/backend.js';
import { locateRuntimeSource, RUNTIME_CURRENT, RUNTIME_DIR, type RuntimeSource } from '../../src/exec/runtime.js';
import { observeRuntimeCopy, planRuntimeCopy } from '../../src/parts/runtime-copy.js';
import { renderPlan, type Step } from '../../src/model/steps.js';
import type { Context } from '../../src/model/context.js';
import { VERSION } from '../../src/model/version.js';
import { fail, FakeRunner } from '../support/fake-runner.js';
import { makeRoot } from '../support/rooted.js';

// The installed copy boot units run: versioned folder + `current`, upgraded by a flip, removed by down.
function ctxFor(root: string): Context {
  // The check of the copy runs the copied node for real; any other command fails the test.
  const runner = new FakeRunner().onMatch(/\/usr\/local\/lib\/hostalias\/[^/ ]+\/node --version$/, (argv) => {
    const r = spawnSync(argv[0] as string, ['--version'], { encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  });
  return { runner, fs: new SystemFs(root), backend: linuxBackend, isRoot: true, live: true, env: {} };
}

async function converge(ctx: Context, source: RuntimeSource | null): Promise<Step[]> {
  const plan = planRuntimeCopy(source, await observeRuntimeCopy(ctx, source?.id ?? null));
  await applySteps(ctx, plan.steps, source ? 'up' : 'down', { teardown: source === null });
  return plan.steps;
}

test('the package version and VERSION agree (the installed copy is named after it)', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});

test('install: node and the bundle in VERSION-ID/, current points at it, a second plan is empty; down removes it all', async (t) => {
  const root = await makeRoot(t);
  const ctx = ctxFor(root);
  const source = await locateRuntimeSource();
  assert.match(source.id, new RegExp(`^${VERSION.replace(/\./g, '\\.')}-[0-9a-f]{12}$`));
  const steps = await converge(ctx, source);
  assert.deepEqual(
    renderPlan({ steps, notes: [], warnings: [] }, { rooted: false, root: '/' })
      .split('\n')
      .map((l) => l.replace(/ \S+\/dist\/cli\/.*$/, ' BUNDLE')),
    [
      `$ install -m 0755 ${process.execPath} ${RUNTIME_DIR}/${source.id}/node`,
      `$ install -m 0644 -D -t ${RUNTIME_DIR}/${source.id} BUNDLE`,
      `$ ${root}${RUNTIME_DIR}/${source.id}/node --version`,
      `$ ln -sf ${source.id} ${RUNTIME_CURRENT}`,
    ],
  );
  const dir = join(root, RUNTIME_DIR, source.id);
  assert.deepEqual((await readFile(join(dir, 'node'))).equals(await readFile(process.execPath)), true, 'node copied byte for byte');
  assert.equal((await stat(join(dir, 'node'))).mode & 0o777, 0o755);
  assert.equal(await readFile(join(dir, 'main.js'), 'utf8'), await readFile(join(source.dir, 'main.js'), 'utf8'));
  assert.equal(await readFile(join(root, RUNTIME_CURRENT, 'runtime.json'), 'utf8'), source.manifest, 'current resolves to the copy (as a unit resolves it)');
  await assert.rejects(
    ctx.fs.read(`${RUNTIME_CURRENT}/runtime.json`),
    /follows no link inside its own directories/,
    'hostalias itself never writes or reads through it',
  );
  assert.deepEqual(await converge(ctx, source), [], 'converged: no steps');

  await ctx.fs.write(`${RUNTIME_DIR}/README.local`, 'kept\n');
  const down = await converge(ctx, null);
  assert.ok(down.every((s) => s.kind === 'remove'));
  assert.deepEqual(await ctx.fs.list(RUNTIME_DIR), ['README.local'], 'only what hostalias put there is removed');
  await ctx.fs.remove(`${RUNTIME_DIR}/README.local`);
  await ctx.fs.remove(RUNTIME_DIR);
  assert.deepEqual(await converge(ctx, null), [], 'already down: no steps');
});

test('upgrade: the new version is written beside the old, current flips, the old one goes; down leaves no folder', async (t) => {
  const root = await makeRoot(t);
  const ctx = ctxFor(root);
  const source = await locateRuntimeSource();
  const old: RuntimeSource = { ...source, id: '0.0.9-0123456789ab', manifest: source.manifest.replace(/"version": "[^"]+"/, '"version": "0.0.9"') };
  await converge(ctx, old);
  assert.equal(await ctx.fs.readLink(RUNTIME_CURRENT), old.id);
  const steps = await converge(ctx, source);
  const symlinkAt = steps.findIndex((s) => s.kind === 'symlink');
  assert.deepEqual(
    steps.slice(0, symlinkAt).map((s) => (s.kind === 'run' ? s.argv.slice(1).join(' ') : s.kind)),
    ['copy', 'copy', '--version'],
    'the new copy is complete and runs before current moves',
  );
  assert.ok(
    steps.slice(symlinkAt + 1).every((s) => s.kind === 'remove' && s.path.startsWith(`${RUNTIME_DIR}/${old.id}`)),
    'then the old version is removed',
  );
  assert.deepEqual(await ctx.fs.list(RUNTIME_DIR), [source.id, 'current']);
  await converge(ctx, null);
  assert.equal(await ctx.fs.exists(RUNTIME_DIR), false);
});

test('a failure after an upgrade puts the old node back byte for byte, executable', async (t) => {
  const root = await makeRoot(t);
  const ctx = ctxFor(root);
  const source = await locateRuntimeSource();
  const old: RuntimeSource = { ...source, id: '0.0.9-0123456789ab' };
  await converge(ctx, old);
  const plan = planRuntimeCopy(source, await observeRuntimeCopy(ctx, source.id));
  const runner = ctx.runner as FakeRunner;
  runner.on(['false'], fail('no'));
  await assert.rejects(applySteps(ctx, [...plan.steps, { kind: 'run', argv: ['false'], why: 'a later part fails' }], 'up'), /rolled back/);
  assert.equal(await ctx.fs.readLink(RUNTIME_CURRENT), old.id);
  const node = join(root, RUNTIME_DIR, old.id, 'node');
  assert.ok((await readFile(node)).equals(await readFile(process.execPath)));
  assert.equal((await stat(node)).mode & 0o777, 0o755);
  assert.deepEqual(await ctx.fs.list(RUNTIME_DIR), [old.id, 'current'], 'the half-written new version is gone');
});

test('a source its owner could rewrite is copied, never hard-linked (a root unit must not run a user-writable file)', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  const src = join(root, 'src-file');
  await writeFile(src, 'x');
  await chmod(src, 0o755);
  await fs.installFrom(src, '/linked', 0o755);
  assert.equal((await stat(join(root, 'linked'))).ino, (await stat(src)).ino, 'root-owned 0755: a hard link');
  await chown(src, 65534, 65534);
  await fs.installFrom(src, '/copied', 0o755);
  assert.notEqual((await stat(join(root, 'copied'))).ino, (await stat(src)).ino, 'user-owned: a copy');
  assert.equal((await stat(join(root, 'copied'))).uid, 0);
  await chown(src, 0, 0);
  await chmod(src, 0o775);
  await fs.installFrom(src, '/copied2', 0o755);
  assert.notEqual((await stat(join(root, 'copied2'))).ino, (await stat(src)).ino, 'group-writable: a copy');
  assert.equal((await stat(join(root, 'copied2'))).mode & 0o777, 0o755);
});

test("the version digest covers node's bytes: another node is another version folder", async () => {
  const source = await locateRuntimeSource();
  const running = source.digests[source.node];
  assert.match(running ?? '', /^[0-9a-f]{64}$/);
  const { createHash } = await import('node:crypto');
  assert.equal(
    running,
    createHash('sha256')
      .update(await readFile('/proc/self/exe'))
      .digest('hex'),
    'the bytes of the node that runs',
  );
});

test('a source swapped after planning is refused, not installed: its bytes are not the planned ones', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  const src = join(root, 'node');
  await writeFile(src, 'the planned bytes');
  await chmod(src, 0o755);
  const { createHash } = await import('node:crypto');
  const planned = createHash('sha256').update('the planned bytes').digest('hex');
  assert.equal(await fs.installFrom(src, '/a', 0o755, planned), planned);
  await writeFile(join(root, 'other'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await rename(join(root, 'other'), src);
  await assert.rejects(fs.installFrom(src, '/b', 0o755, planned), /its bytes changed since hostalias planned the change/);
  assert.equal(await fs.exists('/b'), false);
  assert.deepEqual(
    (await fs.list('/')).filter((n) => n.includes('.tmp')),
    [],
    'no temp file left',
  );
});

test('a source that is a link, or readable only by its owner (a swap toward a root-only file), is refused: nothing is copied out', async (t) => {
  const root = await makeRoot(t);
  const fs = new SystemFs(root);
  const secret = join(root, 'secret');
  await writeFile(secret, 'root only');
  await chmod(secret, 0o600);
  await assert.rejects(fs.installFrom(secret, '/copy', 0o755), /refusing to copy .*secret: only its owner \(uid 0\) or group may read it \(mode 0600\)/);
  const link = join(root, 'node-link');
  await symlink(secret, link);
  await assert.rejects(fs.installFrom(link, '/copy', 0o755), /symbolic link/);
  assert.equal(await fs.exists('/copy'), false);
});

test('a user swapping their node for a link through a folder link while root installs it: the copy is the running node or nothing', async (t) => {
  // The repeat of the attack: a user-owned node (nvm), its bin/ folder flipped between a real
  // folder and a link to a folder holding the user's own script, as fast as the user can.
  const root = await makeRoot(t);
  const ctx = ctxFor(root);
  const source = await locateRuntimeSource();
  const home = join(root, 'home');
  const real = join(home, 'real-bin');
  const evil = join(home, 'evil-bin');
  await mkdir(real, { recursive: true });
  await mkdir(evil, { recursive: true });
  await writeFile(join(real, 'node'), await readFile(process.execPath), { mode: 0o755 });
  await writeFile(join(evil, 'node'), '#!/bin/sh\nid >&2\n', { mode: 0o755 });
  for (const p of [home, real, evil, join(real, 'node'), join(evil, 'node')]) await chown(p, 65534, 65534);
  const bin = join(home, 'bin');
  // (Written so that it runs against a build whose source has no digests too: the attack, not the shape, is tested.)
  const digests: Record<string, string> = source.digests ?? {};
  const userNode: RuntimeSource = { ...source, node: join(bin, 'node'), digests: { ...digests, [join(bin, 'node')]: digests[source.node] ?? '' } };
  let flipping = true;
  const flipper = (async () => {
    for (let i = 0; flipping; i++) {
      await rm(bin, { force: true, recursive: false }).catch(() => undefined);
      await symlink(i % 2 === 0 ? real : evil, bin);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const outcomes = new Set<string>();
  try {
    for (let round = 0; round < 12; round++) {
      const plan = planRuntimeCopy(userNode, await observeRuntimeCopy(ctx, null));
      const result = await applySteps(ctx, plan.steps, 'up').then(
        () => 'installed',
        (err: Error) => (/bytes changed|symbolic link|printed|ENOENT/.test(err.message) ? 'refused' : `error: ${err.message}`),
      );
      outcomes.add(result);
      const node = join(root, RUNTIME_DIR, source.id, 'node');
      if (result === 'installed') {
        assert.ok((await readFile(node)).equals(await readFile(process.execPath)), 'what was installed is the running node, byte for byte');
        const st = await lstat(node);
        assert.equal(st.uid, 0, 'owned by root');
        assert.notEqual(st.ino, (await stat(join(evil, 'node'))).ino, "never a link to the user's file");
      } else {
        assert.equal(result, 'refused');
        assert.notEqual(await ctx.fs.readLink(RUNTIME_CURRENT), source.id, 'current never points at a refused copy');
      }
      await applySteps(ctx, planRuntimeCopy(null, await observeRuntimeCopy(ctx, null)).steps, 'down', { teardown: true });
    }
  } finally {
    flipping = false;
    await flipper;
  }
  assert.ok(outcomes.size > 0);
});

test('a copy that is not a working node (a text file) never becomes current: the check fails and the copy is rolled back', async (t) => {
  const root = await makeRoot(t);
  const ctx = ctxFor(root);
  const source = await locateRuntimeSource();
  const text = join(root, 'not-node');
  await writeFile(text, 'echo not a node\n', { mode: 0o755 });
  const { createHash } = await import('node:crypto');
  const fake: RuntimeSource = { ...source, node: text, digests: { ...source.digests, [text]: createHash('sha256').update('echo not a node\n').digest('hex') } };
  const plan = planRuntimeCopy(fake, await observeRuntimeCopy(ctx, null));
  await assert.rejects(applySteps(ctx, plan.steps, 'up'), /check that the copied node runs .* printed/);
  assert.equal(await ctx.fs.readLink(RUNTIME_CURRENT), null, 'current was never made');
  assert.deepEqual(await ctx.fs.list(RUNTIME_DIR), [], 'the copy is rolled back');
});
