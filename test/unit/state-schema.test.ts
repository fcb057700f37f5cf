import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNames } from '../../src/model/address.js';
import { defaultDesired } from '../../src/model/config.js';
import { CorruptStateError, parseState } from '../../src/model/state.js';
import { parseRecord } from '../../src/platform/linux/firewall/route-localnet.js';

const good = {
  version: 1,
  desired: defaultDesired(),
  persistence: { kind: 'systemd', reason: 'PID 1 is systemd', ip: '10.254.254.254', label: 'lo:hostalias' },
  updatedAt: '2026-01-01T00:00:00Z',
};

test('names: localhost, *.localhost, IP-like names and control characters are refused; ordinary names pass', () => {
  for (const bad of ['localhost', 'LocalHost', 'db.localhost', '10.0.0.1', '127.1', '0x7f.1', 'host.123', '4711', 'a\nb', 'a\tb', 'a b']) {
    assert.throws(
      () => parseNames(bad),
      (e: Error & { code?: string }) => e.code === 'usage',
      bad,
    );
  }
  assert.deepEqual(parseNames('local_host,host.docker.internal,db1,my-host.example'), ['local_host', 'host.docker.internal', 'db1', 'my-host.example']);
});

test('state.json: a good file parses; fields added later take their defaults', () => {
  assert.deepEqual(parseState(JSON.stringify(good)).desired, defaultDesired());
  const old = { ...good, desired: { ip: '10.0.0.9', label: 'lo:hostalias', names: ['local'], persist: 'auto', hostsFile: true, dockerDaemon: false } };
  const parsed = parseState(JSON.stringify(old));
  assert.equal(parsed.desired.ip, '10.0.0.9');
  assert.deepEqual(parsed.desired.exposes, []);
});

test('state.json: every damaged or hostile value is refused with the path of the bad field', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{', /not JSON/],
    ['an array', [], /unreadable/],
    ['version 2', { ...good, version: 2 }, /version/],
    ['a name with a newline', { ...good, desired: { ...good.desired, names: ['ok', 'evil\n1.2.3.4 bank'] } }, /desired\.names\.1/],
    ['localhost as a name', { ...good, desired: { ...good.desired, names: ['localhost'] } }, /desired\.names\.0/],
    ['a loopback ip', { ...good, desired: { ...good.desired, ip: '127.0.0.2' } }, /desired\.ip/],
    ['a label with a space', { ...good, desired: { ...good.desired, label: 'lo:a b' } }, /desired\.label/],
    ['port 0', { ...good, desired: { ...good.desired, exposes: [{ port: 0, proto: 'tcp', to: 1, keepSource: false }] } }, /desired\.exposes\.0\.port/],
    ['an interface with a slash', { ...good, desired: { ...good.desired, allowIfaces: ['../x'] } }, /desired\.allowIfaces\.0/],
    ['too many workers', { ...good, desired: { ...good.desired, forwards: [{ port: 80, proto: 'tcp', targets: [], workers: 100000 }] } }, /workers/],
    [
      'a zero connection cap',
      { ...good, desired: { ...good.desired, forwards: [{ port: 80, proto: 'tcp', targets: [], maxConnections: 0 }] } },
      /forwards\.0\.maxConnections/,
    ],
    ['a fractional grace', { ...good, desired: { ...good.desired, forwards: [{ port: 80, proto: 'tcp', targets: [], graceS: 1.5 }] } }, /forwards\.0\.graceS/],
    [
      'an unknown schedule',
      { ...good, desired: { ...good.desired, forwards: [{ port: 80, proto: 'tcp', targets: [], schedule: 'random' }] } },
      /forwards\.0\.schedule/,
    ],
    ['a DNS target', { ...good, desired: { ...good.desired, forwards: [{ port: 80, proto: 'tcp', targets: ['db.example:5432'] }] } }, /targets\.0/],
    ['persistence kind', { ...good, persistence: { ...good.persistence, kind: 'cron' } }, /persistence\.kind/],
  ];
  for (const [name, value, re] of cases) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    assert.throws(
      () => parseState(text, '/var/lib/hostalias/state.json'),
      (e: Error) =>
        e instanceof CorruptStateError &&
        re.test(e.message) &&
        e.message.includes('/var/lib/hostalias/state.json') &&
        /hostalias down/.test((e as CorruptStateError).fix ?? ''),
      name,
    );
  }
});

test('firewall.json: validated too; a damaged record is refused, not read as empty', () => {
  assert.deepEqual(parseRecord('{"backend":"iptables","routeLocalnet":{"docker0":0}}'), { backend: 'iptables', routeLocalnet: { docker0: 0 } });
  assert.equal(parseRecord(null), null);
  assert.throws(() => parseRecord('{"backend":"pf","routeLocalnet":{}}'), /backend/);
  assert.throws(() => parseRecord('{"backend":"nftables","routeLocalnet":{"docker0":7}}'), /routeLocalnet\.docker0/);
  assert.throws(() => parseRecord('nope'), /not JSON/);
});
