import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chmod, chown, readFile, stat, writeFile } from 'node:fs/promises';
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
  return { runner: new FakeRunner(), fs: new SystemFs(root), backend: linuxBackend, isRoot: true, live: true, env: {} };
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
  assert.ok(
    steps.slice(0, symlinkAt).every((s) => s.kind === 'copy'),
    'the new copy is complete before current moves',
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
