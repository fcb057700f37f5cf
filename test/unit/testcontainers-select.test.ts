/**
 * test/support/testcontainers-select.ts, the resolve hook that makes a bare `testcontainers`
 * import load `testcontainers-12` in the Testcontainers 12 runs (the e2e file proves it end to end
 * by the versions that ran; here, which specifiers it rewrites and which it leaves alone).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialize, resolve } from '../support/testcontainers-select.js';

test('testcontainers-select: the bare name and its subpaths go to the chosen package; other names pass through', async () => {
  initialize('testcontainers-12');
  const seen: string[] = [];
  const next = (specifier: string): Promise<unknown> => {
    seen.push(specifier);
    return Promise.resolve({ url: `resolved:${specifier}` });
  };
  for (const s of [
    'testcontainers',
    'testcontainers/build/index.js',
    'testcontainers-12',
    'testcontainersx',
    '@testcontainers/postgresql',
    'hostalias/testcontainers',
    './testcontainers',
  ]) {
    await resolve(s, {}, next);
  }
  assert.deepEqual(seen, [
    'testcontainers-12',
    'testcontainers-12/build/index.js',
    'testcontainers-12',
    'testcontainersx',
    '@testcontainers/postgresql',
    'hostalias/testcontainers',
    './testcontainers',
  ]);
});
