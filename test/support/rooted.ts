import { mkdtemp, mkdir, readdir, readFile, readlink, lstat, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Context } from '../../src/model/context.js';
import type { Runner } from '../../src/model/runner.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { hostsFilePart } from '../../src/parts/hosts-file.js';
import { linuxBackend } from '../../src/platform/linux/backend.js';
import { aliasPart, persistencePart } from '../../src/platform/linux/parts.js';

/** A temp folder used as `--root`, filled with `files` (path on the target → content); removed after the test. */
export async function makeRoot(t: Pick<TestContext, 'after'>, files: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hal-unit-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

/** The parts of the core alias lifecycle; other features test their own parts. */
export const CORE_PARTS = [aliasPart, persistencePart, hostsFilePart];

/** A Context as the CLI builds it for `--root ROOT` as root, with an injected runner and the core parts. */
export function rootedContext(runner: Runner, root: string): Context {
  return { runner, fs: new SystemFs(root), backend: linuxBackend, live: true, isRoot: true, env: {}, parts: CORE_PARTS };
}

/**
 * Every file and symlink under `root`: path on the target → content, or `-> target` for a link.
 * With `withStat`, a file's mtime and mode come first, so equal trees mean nothing was rewritten.
 */
export async function readTree(root: string, opts: { withStat?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(join(root, dir))).sort()) {
      const path = `${dir}/${name}`;
      const st = await lstat(join(root, path));
      if (st.isDirectory()) await walk(path);
      else if (st.isSymbolicLink()) out[path] = `-> ${await readlink(join(root, path))}`;
      else out[path] = `${opts.withStat ? `${st.mtimeMs} ${st.mode.toString(8)} ` : ''}${await readFile(join(root, path), 'utf8')}`;
    }
  };
  await walk('');
  return out;
}
