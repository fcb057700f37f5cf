import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostaliasError } from '../model/errors.js';
import { digestLiveFile, readLiveFile } from '../fs/system-fs.js';

/** How to start hostalias itself: the node binary and the CLI entry point (boot units name them). */
export interface ForwardRuntime {
  nodePath: string;
  cliPath: string;
}

/**
 * The installed copy boot units run: `up` puts node and the CLI bundle in
 * RUNTIME_DIR/VERSION-ID/ and points `current` at it, so units outlive the clone or npm prefix
 * hostalias was run from and the user's node (nvm, volta, …) being switched or removed.
 */
export const RUNTIME_DIR = '/usr/local/lib/hostalias';
export const RUNTIME_CURRENT = `${RUNTIME_DIR}/current`;

/**
 * How every unit and LaunchDaemon starts hostalias: through `current`, never the running clone,
 * so an upgrade (a new version folder and `current` flipped in one rename) needs no unit change.
 */
export function currentRuntime(): ForwardRuntime {
  return { nodePath: `${RUNTIME_CURRENT}/node`, cliPath: `${RUNTIME_CURRENT}/main.js` };
}

/** The running installation's bundle and node: what `up` copies to RUNTIME_DIR. */
export interface RuntimeSource {
  /** Version folder name: `0.1.0-<digest of node's bytes and version, and the bundle's files>`. */
  id: string;
  node: string;
  /** What `node --version` prints for it (this process's process.version). */
  nodeVersion: string;
  /** SHA-256 of each file to copy, by its path (node, and each bundle file): the copy must be these bytes. */
  digests: Record<string, string>;
  /** The bundle folder (dist/cli) and its files, runtime.json last (it marks a complete copy). */
  dir: string;
  files: string[];
  /** Contents of runtime.json: an installed copy with the same text is complete and current. */
  manifest: string;
}

interface Manifest {
  name: string;
  version: string;
  entry: string;
  files: string[];
}

function readManifest(dir: string): Promise<string | null> {
  return readLiveFile(join(dir, 'runtime.json'));
}

/**
 * Folders that may hold the bundle (dist/cli and what it ships, such as the relay's relay-linux-ARCH.node):
 * this module's own (the bundle, an installed copy), then each ancestor's dist/cli (the library,
 * tests). Pure.
 */
export function bundleDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const dirs = [here];
  for (let d = here; dirname(d) !== d; d = dirname(d)) dirs.push(join(d, 'dist', 'cli'));
  return dirs;
}

/**
 * The bytes of the node this process runs. On Linux /proc/self/exe is that very file, whatever
 * happens to the path it was started from meanwhile (a user swapping their nvm node); elsewhere,
 * its path. Read-only.
 */
async function runningNodeDigest(): Promise<string> {
  return digestLiveFile('/proc/self/exe').catch(() => digestLiveFile(process.execPath));
}

/**
 * Finds the bundle of this installation: next to this module when running from the bundle or an
 * installed copy, else the package's dist/cli (the library, tests). The version folder's name
 * digests node's version and bytes and every bundle file, so a different node or bundle is a
 * different folder, and the copy step installs exactly the bytes digested here (`digests`).
 * Reads files; no side effects.
 */
export async function locateRuntimeSource(): Promise<RuntimeSource> {
  const candidates = bundleDirs();
  for (const dir of candidates) {
    const manifest = await readManifest(dir);
    if (manifest === null) continue;
    const parsed = JSON.parse(manifest) as Manifest;
    if (parsed.name !== 'hostalias') continue;
    const files = [...parsed.files.filter((f) => f !== 'runtime.json'), 'runtime.json'];
    const node = process.execPath;
    const digests: Record<string, string> = { [node]: await runningNodeDigest() };
    for (const f of files) digests[join(dir, f)] = await digestLiveFile(join(dir, f));
    const hash = createHash('sha256').update(`${process.version} ${process.arch} ${digests[node]}\n`);
    for (const f of files) hash.update(`${f} ${digests[join(dir, f)]}\n`);
    return { id: `${parsed.version}-${hash.digest('hex').slice(0, 12)}`, node, nodeVersion: process.version, digests, dir, files, manifest };
  }
  throw new HostaliasError(
    'failed',
    `the hostalias bundle (dist/cli/runtime.json) was not found near ${candidates[0]}, so there is nothing for boot units to run`,
    'npm run build (in a clone), or reinstall hostalias',
  );
}

/** The module at `moduleUrl` is the script node was started with (not imported by a test or a library user). */
export function isEntryPoint(moduleUrl: string): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** The script this process runs (process.argv[1]), with links resolved when they can be. */
export function selfPath(): string {
  const script = process.argv[1] ?? '';
  try {
    return realpathSync(script);
  } catch {
    return script; // keep what node was given
  }
}
