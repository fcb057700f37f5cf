/**
 * `hostalias/testcontainers` without a container engine: port specs, the package's exports
 * entry, and the promise that only the opt-in fallback ever loads the optional `testcontainers`
 * peer dependency (the CLI and the main library never do). Sockets and containers are tested in
 * test/e2e/testcontainers.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { exposeThroughTestcontainers } from '../../src/testcontainers/fallback.js';
import { wantedPorts } from '../../src/testcontainers/ports.js';
import { repoDir } from '../support/forward-lab.js';

test('wantedPorts: a bare number is TCP plus best-effort UDP; PORT/proto is exactly that; no duplicates', () => {
  assert.deepEqual(wantedPorts([8080, '5353/udp', '9090/tcp', 8080]), [
    { port: 8080, proto: 'tcp', implicit: false },
    { port: 8080, proto: 'udp', implicit: true },
    { port: 5353, proto: 'udp', implicit: false },
    { port: 9090, proto: 'tcp', implicit: false },
  ]);
  assert.deepEqual(
    wantedPorts([53, '53/udp']).find((w) => w.proto === 'udp'),
    { port: 53, proto: 'udp', implicit: false },
    'asked for by name: no longer best effort',
  );
});

test('wantedPorts: bad ports are usage errors naming the call shape', () => {
  for (const bad of [0, 70000, 1.5, '80/sctp', 'http']) {
    assert.throws(
      () => wantedPorts([bad]),
      (e: { code?: string; fix?: string }) => e.code === 'usage' && /exposeHostPorts\(8080, '5353\/udp'\)/.test(e.fix ?? ''),
      String(bad),
    );
  }
});

test('fallback: UDP asked for by name is refused before anything starts (the SSH tunnel is TCP only)', async () => {
  await assert.rejects(
    exposeThroughTestcontainers(wantedPorts(['5353/udp'])),
    (e: { code?: string; message: string }) => e.code === 'unsupported' && /TCP only/.test(e.message),
  );
});

test('package.json exports hostalias/testcontainers (types and code) and keeps testcontainers an optional peer', () => {
  const pkg = JSON.parse(readFileSync(join(repoDir(), 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string; import: string }>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    dependencies: Record<string, string>;
  };
  const entry = pkg.exports['./testcontainers'];
  assert.ok(entry, 'exports has ./testcontainers');
  assert.ok(existsSync(join(repoDir(), entry.types)) && existsSync(join(repoDir(), entry.import)), 'both files are built');
  assert.ok(pkg.peerDependencies?.['testcontainers']);
  assert.equal(pkg.peerDependenciesMeta?.['testcontainers']?.optional, true);
  assert.equal(pkg.dependencies['testcontainers'], undefined);
});

/** Every module reachable from `entry` through static and literal dynamic imports (relative ones), plus the bare specifiers seen. */
function importGraph(entry: string): { files: Set<string>; bare: Map<string, string> } {
  const files = new Set<string>();
  const bare = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else bare.set(spec, file);
    }
  }
  return { files, bare };
}

test('the CLI and the main library never load testcontainers or the subpath module', () => {
  const dist = join(repoDir(), 'dist');
  // The CLI is a self-contained bundle (scripts/bundle.mjs): no file of it may require or import it.
  const cli = join(dist, 'cli');
  const bundled = readdirSync(cli).filter((f) => f.endsWith('.js'));
  assert.ok(bundled.includes('main.js') && bundled.length > 3, `the CLI bundle: ${bundled.join(', ')}`);
  for (const f of bundled) {
    const text = readFileSync(join(cli, f), 'utf8');
    assert.doesNotMatch(
      text,
      /require\(["']testcontainers["']\)|from ["']testcontainers["']|import\(["']testcontainers["']\)/,
      `dist/cli/${f} loads testcontainers`,
    );
    assert.doesNotMatch(text, /dist\/testcontainers|\.\.\/testcontainers\//, `dist/cli/${f} reaches dist/testcontainers`);
  }
  for (const entry of ['index.js']) {
    const { files, bare } = importGraph(join(dist, entry));
    assert.ok(files.size > 5, `${entry}: the graph was walked (${files.size} files)`);
    assert.ok(!bare.has('testcontainers'), `${entry} reaches testcontainers through ${bare.get('testcontainers')}`);
    assert.deepEqual(
      [...files].filter((f) => f.includes(`${join(dist, 'testcontainers')}/`)),
      [],
      `${entry} reaches dist/testcontainers`,
    );
  }
  // The subpath itself loads it only in the fallback, by dynamic import.
  const { bare } = importGraph(join(dist, 'testcontainers', 'index.js'));
  assert.equal(bare.get('testcontainers'), join(dist, 'testcontainers', 'fallback.js'));
  assert.match(readFileSync(join(dist, 'testcontainers', 'fallback.js'), 'utf8'), /await import\('testcontainers'\)/);
  assert.doesNotMatch(readFileSync(join(dist, 'testcontainers', 'fallback.js'), 'utf8'), /^import .*['"]testcontainers['"]/m);
});

test('the published entry is one bundled module: node built-ins, the modules shared with the main entry, and testcontainers only by dynamic import', async () => {
  const lib = join(repoDir(), 'dist', 'testcontainers', 'lib.js');
  const text = readFileSync(lib, 'utf8');
  const statics = new Set([...text.matchAll(/^import [^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string));
  // errors.js: one HostaliasError class; native-relay.js: the addon starts once per process.
  assert.deepEqual(
    [...statics].filter((s) => !s.startsWith('node:')).sort(),
    ['../forward/native-relay.js', '../model/errors.js'],
    'only the shared modules stay separate',
  );
  assert.deepEqual(
    [...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]),
    ['testcontainers'],
    'testcontainers: one dynamic import (the fallback)',
  );
  // One HostaliasError class for both entry points, so `instanceof` holds for errors from either.
  const sub = (await import(lib)) as typeof import('../../src/testcontainers/index.js');
  const main = (await import(join(repoDir(), 'dist', 'index.js'))) as typeof import('../../src/index.js');
  await assert.rejects(
    sub.openHostPorts({ filesRoot: join(repoDir(), 'test', 'no-such-root') }),
    (e: unknown) => e instanceof main.HostaliasError && (e as { code?: string }).code === 'not-present',
  );
});
