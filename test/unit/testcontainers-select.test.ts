/**
 * test/support/testcontainers-select.ts, the resolve hook that makes a bare `testcontainers`
 * import load Testcontainers 12 from its own folder in the Testcontainers 12 runs (the e2e file
 * proves it end to end by the versions that ran; here, which specifiers it resolves from that
 * folder and which it leaves alone).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initialize, resolve } from '../support/testcontainers-select.js';

test('testcontainers-select: the bare name and its subpaths resolve from the chosen folder; other names pass through', async () => {
  initialize('/opt/tc12');
  const seen: string[] = [];
  const next = (specifier: string, context: { parentURL?: string | undefined }): Promise<unknown> => {
    seen.push(`${specifier} from ${context.parentURL}`);
    return Promise.resolve({ url: `resolved:${specifier}` });
  };
  const parentURL = 'file:///work/test/x.js';
  for (const s of [
    'testcontainers',
    'testcontainers/build/index.js',
    'testcontainersx',
    '@testcontainers/postgresql',
    'hostalias/testcontainers',
    './testcontainers',
  ]) {
    await resolve(s, { parentURL }, next);
  }
  assert.deepEqual(seen, [
    'testcontainers from file:///opt/tc12/package.json',
    'testcontainers/build/index.js from file:///opt/tc12/package.json',
    `testcontainersx from ${parentURL}`,
    `@testcontainers/postgresql from ${parentURL}`,
    `hostalias/testcontainers from ${parentURL}`,
    `./testcontainers from ${parentURL}`,
  ]);
});
