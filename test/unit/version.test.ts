import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseVersion, versionAtLeast } from '../../src/model/version.js';

test('one version comparison for Docker Engine, NetworkManager and macOS version strings', () => {
  assert.deepEqual(parseVersion('20.10.24+dfsg1'), [20, 10, 24]);
  assert.deepEqual(parseVersion('nmcli tool, version 1.42.4-1.fc38'), [1, 42, 4]);
  assert.deepEqual(parseVersion('14'), [14], 'sw_vers may print a bare major');
  assert.equal(parseVersion('unknown'), null);
  const table: Array<[string, string, boolean]> = [
    ['20.10.0', '20.10', true],
    ['20.9.1', '20.10', false],
    ['28.0.0-rc.1', '28', true],
    ['27.5.1', '28', false],
    ['1.42.4', '1.42', true],
    ['1.40.18', '1.42', false],
    ['14', '10.10', true],
    ['10.9.5', '10.10', false],
    ['10.10', '10.10', true],
    ['dev', '20.10', false],
  ];
  for (const [v, min, want] of table) assert.equal(versionAtLeast(v, min), want, `${v} >= ${min}`);
  assert.equal(compareVersions([1, 2], [1, 2, 0]), 0);
  assert.equal(compareVersions([1, 10], [1, 9]), 1, 'numeric, not lexical');
});
