/**
 * A package registry on 127.0.0.1 that serves exactly the packages of this repository's
 * package-lock.json, from npm's own cache, so tests that run `npm install -g` (a tarball, a git URL,
 * `npm exec`) need neither the public registry nor anything an earlier run left behind.
 *
 * Why not `--offline`: offline, npm needs each dependency's registry metadata (the packument) in
 * its cache, and `npm ci` never caches that: it fetches tarballs straight from the lockfile. Those
 * tarballs are in the cache after `npm ci` (content-addressed by the lockfile's integrity), so this
 * server builds the packuments from the lockfile and serves the cached tarballs, byte for byte.
 * Anything else gets a 404, recorded in `misses`, so a test fails naming what npm asked for.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execArgv } from './exec.js';
import { repoRoot } from './netns.js';

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  license?: string;
}

export interface LocalRegistry {
  /** `http://127.0.0.1:PORT/`, for `npm_config_registry`. */
  readonly url: string;
  /** Requests that could not be answered (a package or tarball the lockfile doesn't hold, or one missing from the cache). */
  readonly misses: string[];
  /** The environment npm runs with: this registry, no audit, fund or update check. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** `@scope/name` for `node_modules/a/node_modules/@scope/name`, or the alias's real name. */
function packageName(path: string, entry: LockEntry): string {
  return entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/** Where cacache keeps a tarball with this integrity (`sha512-BASE64`). */
export function cachePathFor(cacheDir: string, integrity: string): string {
  const [algo, b64] = integrity.split(' ')[0]?.split('-', 2) ?? [];
  if (!algo || !b64) throw new Error(`unusable integrity ${integrity}`);
  const hex = Buffer.from(b64, 'base64').toString('hex');
  return join(cacheDir, '_cacache', 'content-v2', algo, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

const tarballPath = (name: string, version: string) => `/${name}/-/${name.replace(/^@[^/]+\//, '')}-${version}.tgz`;

/** Starts the registry for the lockfile of the repository under test; close it in t.after. */
export async function startLocalRegistry(): Promise<LocalRegistry> {
  const lock = JSON.parse(await readFile(join(repoRoot(), 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const cacheDir = (await execArgv(['npm', 'config', 'get', 'cache'], { cwd: repoRoot() })).stdout.trim();
  const byName = new Map<string, Map<string, LockEntry>>();
  const tarballs = new Map<string, string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.includes('node_modules/') || entry.link || !entry.version || !entry.integrity) continue;
    const name = packageName(path, entry);
    if (!byName.has(name)) byName.set(name, new Map());
    byName.get(name)?.set(entry.version, entry);
    tarballs.set(tarballPath(name, entry.version), entry.integrity);
  }
  const misses: string[] = [];
  let base = '';

  const packument = (name: string, versions: Map<string, LockEntry>) => {
    const out: Record<string, unknown> = {};
    for (const [version, e] of versions) {
      const { name: _alias, integrity, link: _link, ...fields } = e;
      out[version] = { ...fields, name, version, dist: { tarball: `${base}${tarballPath(name, version).slice(1)}`, integrity } };
    }
    // The newest version in the lockfile is `latest`, so a bare `npm install NAME` resolves too.
    const latest = [...versions.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
    return { name, 'dist-tags': { latest }, versions: out };
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
      const integrity = tarballs.get(path);
      if (integrity) {
        try {
          const bytes = await readFile(cachePathFor(cacheDir, integrity));
          const [algo, b64] = integrity.split('-', 2);
          if (
            createHash(algo ?? 'sha512')
              .update(bytes)
              .digest('base64') !== b64
          )
            throw new Error('cached bytes do not match the integrity');
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
          res.end(bytes);
        } catch (err) {
          misses.push(`${path} (not in npm's cache ${cacheDir}: ${(err as Error).message})`);
          res.writeHead(404).end();
        }
        return;
      }
      const versions = byName.get(path.slice(1));
      if (versions) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(packument(path.slice(1), versions)));
        return;
      }
      misses.push(`${req.method} ${path}`);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base,
    misses,
    env: (env = process.env) => ({
      ...env,
      npm_config_registry: base,
      npm_config_offline: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
