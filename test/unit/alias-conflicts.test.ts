import assert from 'node:assert/strict';
import { test } from 'node:test';
import { up } from '../../src/engine/converge.js';
import { HostaliasError } from '../../src/model/errors.js';
import { checkAliasConflicts, planAlias } from '../../src/platform/linux/alias.js';
import { renderPlan } from '../../src/model/steps.js';
import { parseIpAddrJson, type LinkAddress, type RouteEntry } from '../../src/platform/linux/ip.js';
import { ADDR_ALIAS_AND_VETH, ADDR_FRESH_NS, ADDR_LO_SLASH8, FakeIp, ROUTES_DEFAULT_AND_VPN } from '../support/fake-ip.js';
import { makeRoot, readTree, rootedContext } from '../support/rooted.js';

const veth = parseIpAddrJson(ADDR_ALIAS_AND_VETH);
const routes = JSON.parse(ROUTES_DEFAULT_AND_VPN) as RouteEntry[];

function conflict(fn: () => unknown, message: RegExp, fix: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof HostaliasError && err.code === 'conflict' && message.test(err.message) && fix.test(err.fix ?? ''));
}

test('parses real `ip -j addr show` output', () => {
  assert.deepEqual(parseIpAddrJson(ADDR_FRESH_NS), [
    { ifname: 'lo', family: 'inet', local: '127.0.0.1', prefixlen: 8, label: 'lo' },
    { ifname: 'lo', family: 'inet6', local: '::1', prefixlen: 128 },
  ]);
  assert.equal(veth.filter((a) => a.ifname === 'd0' && a.family === 'inet').length, 1);
});

test('an address already on another interface is a conflict', () => {
  conflict(() => checkAliasConflicts('192.0.2.10', veth, []), /192\.0\.2\.10 is already assigned to d0/, /--ip/);
});

test("an address inside another interface's connected subnet is a conflict", () => {
  conflict(() => checkAliasConflicts('192.0.2.77', veth, []), /inside d0's connected subnet 192\.0\.2\.10\/24/, /outside 192\.0\.2\.10\/24/);
});

test('the same ip on lo with /8 (ifconfig lo:0 style) is a conflict whose fix removes it', () => {
  conflict(
    () => checkAliasConflicts('10.254.254.254', parseIpAddrJson(ADDR_LO_SLASH8), []),
    /already on lo as \/8/,
    /^sudo ip addr del 10\.254\.254\.254\/8 dev lo/,
  );
});

test('a route the alias would shadow is a warning naming the route and the fix; the default route is ignored', () => {
  const warnings = checkAliasConflicts('10.254.254.254', parseIpAddrJson(ADDR_FRESH_NS), routes);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]?.text ?? '', /routed by "10\.254\.0\.0\/16 dev d0"/);
  assert.match(warnings[0]?.text ?? '', /If that matters: hostalias up --ip ADDR with/);
  // What doctor reads: the note's id and facts, not its sentence.
  assert.equal(warnings[0]?.id, 'alias-shadows-route');
  assert.deepEqual(warnings[0]?.data, { ip: '10.254.254.254', route: '10.254.0.0/16 dev d0', dst: '10.254.0.0/16' });
  assert.deepEqual(checkAliasConflicts('10.254.254.254', parseIpAddrJson(ADDR_FRESH_NS), [{ dst: 'default', gateway: '192.0.2.1', dev: 'd0' }]), []);
});

test('the alias already present (as /32 on lo) is no conflict and needs no step', () => {
  assert.deepEqual(checkAliasConflicts('10.254.254.254', veth, []), []);
  assert.equal(renderPlan(planAlias({ ip: '10.254.254.254', label: 'lo:hostalias' }, null, veth), { rooted: false, root: '/' }), '');
});

test('up refuses a conflicting address and changes nothing', async (t) => {
  const root = await makeRoot(t);
  const ip = new FakeIp(ADDR_ALIAS_AND_VETH);
  const ctx = rootedContext(ip.runner, root);
  await assert.rejects(up(ctx, { ip: '192.0.2.77', persist: 'systemd' }), (err: unknown) => err instanceof HostaliasError && err.code === 'conflict');
  assert.deepEqual(
    ip.runner.lines.filter((l) => !l.startsWith('ip -j ')),
    [],
    'only read-only probes ran',
  );
  assert.deepEqual(await readTree(root), {});
});

test('up with a shadowed route applies and reports the warning', async (t) => {
  const root = await makeRoot(t);
  const ip = new FakeIp(ADDR_FRESH_NS, ROUTES_DEFAULT_AND_VPN);
  const res = await up(rootedContext(ip.runner, root), { persist: 'none' });
  assert.equal(res.plan.warnings.length, 1);
  assert.match(res.plan.warnings[0]?.text ?? '', /10\.254\.0\.0\/16 dev d0/);
  assert.deepEqual(ip.loAddresses(), ['127.0.0.1/8 lo', '10.254.254.254/32 lo:hostalias']);
});

test('an unlabelled alias (as NetworkManager adds it at boot) counts as present: no relabel gap', () => {
  const lo: LinkAddress[] = [
    { ifname: 'lo', family: 'inet', local: '127.0.0.1', prefixlen: 8, label: 'lo' },
    { ifname: 'lo', family: 'inet', local: '10.254.254.254', prefixlen: 32, label: 'lo' },
  ];
  assert.equal(renderPlan(planAlias({ ip: '10.254.254.254', label: 'lo:hostalias' }, null, lo), { rooted: false, root: '/' }), '');
  const labelled: LinkAddress[] = [{ ifname: 'lo', family: 'inet', local: '10.254.254.254', prefixlen: 32, label: 'lo:old' }];
  assert.equal(
    renderPlan(planAlias({ ip: '10.254.254.254', label: 'lo:hostalias' }, null, labelled), { rooted: false, root: '/' }),
    '$ ip addr del 10.254.254.254/32 dev lo\n$ ip addr replace 10.254.254.254/32 dev lo label lo:hostalias',
  );
});
