import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ForwardSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { down, up } from '../../src/engine/converge.js';
import { HostaliasError } from '../../src/model/errors.js';
import { RUNTIME_CURRENT, RUNTIME_DIR } from '../../src/exec/runtime.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { librariesToCopy } from '../../src/platform/darwin/node-libraries.js';
import { realLivePath } from '../../src/fs/system-fs.js';
import { FakeMac, fixture, MacRootFs } from '../support/fake-mac.js';
import { JOURNAL_PATH } from '../../src/model/state.js';
import { makeRoot, readTree } from '../support/rooted.js';

// A Homebrew node links Homebrew's libuv, OpenSSL, ICU… (its formula's --shared-* options): a copy
// of it alone starts only while those kegs stay where they were. The installed copy carries them
// in its lib/ folder, its LaunchDaemons name that folder in DYLD_LIBRARY_PATH, and the copy checks
// itself before it is used. The FakeMac starts a copied node as dyld would (test/support/fake-mac.ts: loadImages).
const PG: ForwardSpec = { port: 5432, proto: 'tcp', targets: [] };
const LABEL = 'dev.hostalias.forward.5432-tcp';
const NO_GUARD = { lanGuard: false } as const;

/**
 * A Homebrew prefix in a temp folder with the files node-homebrew-images.txt names: each keg's
 * opt/ link pointing at its Cellar folder, as `brew` makes them, and ICU's libicuuc.77.dylib a
 * link to libicuuc.77.1.dylib. Returns the images with the prefix filled in.
 */
async function homebrew(t: TestContext): Promise<{ prefix: string; images: string[] }> {
  const prefix = await makeRoot(t);
  const images = fixture('node-homebrew-images.txt')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace('@@HOMEBREW_PREFIX@@', prefix));
  for (const image of images) {
    const m = new RegExp(`^${prefix}/opt/([^/]+)/lib/(.+)$`).exec(image);
    if (!m) continue;
    const [, keg, file] = m as unknown as [string, string, string];
    const cellar = join(prefix, 'Cellar', keg, '1.0');
    await mkdir(join(cellar, 'lib'), { recursive: true });
    if (file === 'libicuuc.77.dylib') {
      await writeFile(join(cellar, 'lib', 'libicuuc.77.1.dylib'), `${keg} ${file}`);
      await symlink('libicuuc.77.1.dylib', join(cellar, 'lib', file));
    } else await writeFile(join(cellar, 'lib', file), `${keg} ${file}`);
    await mkdir(join(prefix, 'opt'), { recursive: true });
    await symlink(`../Cellar/${keg}/1.0`, join(prefix, 'opt', keg)).catch(() => undefined);
  }
  const node = images[0] as string;
  await mkdir(dirname(node), { recursive: true });
  await writeFile(node, 'node');
  return { prefix, images };
}

async function mac(t: TestContext, images: string[]): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  m.nodeImages = images;
  // What Node's report lists in this process: its own executable first, then the images dyld loaded.
  const native = { addresses: () => [], engine: async () => null, loadedLibraries: () => [process.execPath, ...images.slice(1)] };
  return { ctx: { runner: m, fs, backend: darwinBackend, live: true, isRoot: true, env: {}, native }, mac: m, fs };
}

test('librariesToCopy: a Homebrew node carries its kegs by their real files, under the names dyld looks up; macOS libraries and node itself stay', async (t) => {
  const { prefix, images } = await homebrew(t);
  const libs = await librariesToCopy([process.execPath, ...images.slice(1)], process.execPath, realLivePath);
  assert.equal(libs.length, 11, JSON.stringify(libs));
  assert.ok(
    libs.every((l) => l.from.startsWith(`${prefix}/Cellar/`)),
    'each from its Cellar file, not the opt/ link a brew upgrade moves',
  );
  assert.deepEqual(
    libs.find((l) => l.names.includes('libicuuc.77.dylib'))?.names,
    ['libicuuc.77.dylib', 'libicuuc.77.1.dylib'],
    'the linked name and the file',
  );
  assert.ok(!libs.some((l) => l.names.some((n) => n.startsWith('libSystem') || n.startsWith('libz') || n === 'CoreFoundation')));

  const official = fixture('node-official-images.txt')
    .split('\n')
    .filter((l) => l !== '');
  assert.deepEqual(await librariesToCopy(official, official[0] as string, realLivePath), [], "the nodejs.org build links only macOS's libraries");
});

test('a Homebrew node: the installed copy carries its libraries, checks itself, and its relay still starts after the kegs are gone', async (t) => {
  const { prefix, images } = await homebrew(t);
  const { ctx, mac: m, fs } = await mac(t, images);
  await up(ctx, NO_GUARD);
  const res = await up(ctx, { ...NO_GUARD, forwards: [PG] });
  const id = (await fs.readLink(RUNTIME_CURRENT)) as string;
  assert.match(id, /^0\.1\.0-[0-9a-f]{12}$/);
  const lib = `${RUNTIME_DIR}/${id}/lib`;
  const copied = (await fs.list(lib)).sort();
  assert.equal(copied.length, 12, copied.join(' '));
  assert.ok(copied.includes('libuv.1.dylib') && copied.includes('libicuuc.77.1.dylib') && copied.includes('libssl.3.dylib'));
  assert.equal(await fs.read(`${lib}/libuv.1.dylib`), 'libuv libuv.1.dylib', 'the keg file itself');
  const check = m.fake.lines.find((l) => l.startsWith('/usr/bin/env DYLD_LIBRARY_PATH='));
  assert.ok(check?.includes(`${RUNTIME_DIR}/${id}/node -e `), `the copy checked itself: ${m.fake.lines.join('\n')}`);
  assert.ok(m.listening.has(LABEL), 'the relay started');
  assert.ok(res.plan.steps.some((s) => s.kind === 'run' && s.argv[0] === '/usr/bin/env'));

  // brew upgrade / brew cleanup: the kegs node was linked against are gone.
  await rm(join(prefix, 'Cellar'), { recursive: true, force: true });
  await rm(join(prefix, 'opt'), { recursive: true, force: true });
  m.listening.clear();
  await m.restartDaemons();
  assert.ok(m.listening.has(LABEL), 'after a reboot the relay starts from its own libraries');
  assert.deepEqual((await up(ctx, { ...NO_GUARD, forwards: [PG] })).plan.steps, [], 'converged: no steps');

  await down(ctx);
  assert.deepEqual(await fs.list(RUNTIME_DIR), [], 'down removes the copy with its lib/ folder');
});

test('a copy that would still load a keg (dyld ignoring DYLD_LIBRARY_PATH) fails its check: nothing stays installed', async (t) => {
  const { images } = await homebrew(t);
  const { ctx, mac: m, fs } = await mac(t, images);
  m.dyldIgnoresEnv = true;
  await up(ctx, NO_GUARD);
  /** The files, without the journal (which records the attempt and its rollback). */
  const files = async () => {
    const tree = await readTree(fs.root);
    delete tree[JOURNAL_PATH];
    return tree;
  };
  const before = await files();
  await assert.rejects(
    up(ctx, { ...NO_GUARD, forwards: [PG] }),
    (e: unknown) => e instanceof HostaliasError && /from outside it/.test(`${e.message}`) && e.message.includes('/opt/libuv/lib/libuv.1.dylib'),
  );
  assert.deepEqual(await files(), before, 'rolled back: no copy, no job');
  assert.equal(m.daemons.has(LABEL), false);

  // Negative control: the same Mac honouring the variable installs.
  m.dyldIgnoresEnv = false;
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  assert.ok(m.listening.has(LABEL));
});

test('without its libraries the copy does not start once the kegs are gone (what the lib/ folder prevents)', async (t) => {
  const { prefix, images } = await homebrew(t);
  const { ctx, mac: m, fs } = await mac(t, images);
  await up(ctx, { ...NO_GUARD, forwards: [PG] });
  const id = (await fs.readLink(RUNTIME_CURRENT)) as string;
  for (const f of await fs.list(`${RUNTIME_DIR}/${id}/lib`)) await fs.remove(`${RUNTIME_DIR}/${id}/lib/${f}`);
  await rm(join(prefix, 'Cellar'), { recursive: true, force: true });
  m.listening.clear();
  await m.restartDaemons();
  assert.equal(m.listening.has(LABEL), false);
  assert.match((await fs.read(`/var/log/${LABEL}.log`)) ?? '', /dyld\[\d+\]: Library not loaded: \S+\/opt\/\S+\.dylib/);
});
