import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aliasOnLoopback, parseAliasIp, parseLabel, parseNames } from '../../src/model/address.js';
import { HostaliasError } from '../../src/model/errors.js';

test('accepts IPv4 unicast addresses and canonicalises them', () => {
  assert.equal(parseAliasIp('10.254.254.254'), '10.254.254.254');
  assert.equal(parseAliasIp('192.168.77.1'), '192.168.77.1');
  assert.equal(parseAliasIp('198.51.100.7'), '198.51.100.7');
});

for (const bad of [
  '300.1.2.3',
  '10.0.0.1;id',
  '',
  '10.0.0',
  '10.0.0.1/32',
  'fd00::1',
  '127.0.0.2',
  '0.1.2.3',
  '169.254.169.254',
  '224.0.0.1',
  '239.1.1.1',
  '255.255.255.255',
  '240.0.0.1',
  ' 10.0.0.1',
  '010.0.0.1x',
]) {
  test(`refuses ${JSON.stringify(bad)} with a usage error`, () => {
    assert.throws(
      () => parseAliasIp(bad),
      (err: unknown) => err instanceof HostaliasError && err.code === 'usage' && err.message.includes('invalid alias address'),
    );
  });
}

test('parses names and refuses odd ones', () => {
  assert.deepEqual(parseNames('local_host, host.docker.internal,local_host'), ['local_host', 'host.docker.internal']);
  assert.throws(() => parseNames('a b'), HostaliasError);
  assert.throws(() => parseNames(','), HostaliasError);
  assert.throws(() => parseNames('x;rm'), HostaliasError);
});

test('labels are lo: plus at most 12 characters', () => {
  assert.equal(parseLabel('lo:hostalias'), 'lo:hostalias');
  assert.throws(() => parseLabel('lo:thisiswaytoolong'), HostaliasError);
  assert.throws(() => parseLabel('eth0:x'), HostaliasError);
});

test('aliasOnLoopback: the alias as hostalias adds it, a /32 on lo (or a lo:NAME label, or macOS lo0); nothing else counts', () => {
  const at = (name: string, address: string, prefixlen: number) => ({ name, address, prefixlen });
  assert.equal(aliasOnLoopback([at('lo', '127.0.0.1', 8), at('lo:hostalias', '10.254.254.254', 32)], '10.254.254.254'), true);
  assert.equal(aliasOnLoopback([at('lo', '10.254.254.254', 32)], '10.254.254.254'), true);
  assert.equal(aliasOnLoopback([at('lo0', '10.254.254.254', 32)], '10.254.254.254'), true);
  assert.equal(aliasOnLoopback([at('lo', '10.254.254.254', 8)], '10.254.254.254'), false, 'a wider prefix is not the alias');
  assert.equal(aliasOnLoopback([at('eth0', '10.254.254.254', 32)], '10.254.254.254'), false, 'another interface is not the loopback');
  assert.equal(aliasOnLoopback([at('lo', '10.254.254.253', 32)], '10.254.254.254'), false);
});
