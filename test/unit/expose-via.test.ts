/**
 * Pure parts: kernel rules or a relay for `expose` (from what listens), the refused
 * conflicts between `expose` and `forward`, and how a relayed expose is planned (a forward unit
 * with --for-expose, no firewall rule), on Linux and through the shared spec on macOS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultDesired, type Desired, type ExposeSpec } from '../../src/model/config.js';
import { HostaliasError } from '../../src/model/errors.js';
import { chooseExposeVia, managedForwards, parseExpose, refuseExposeConflicts, refuseForwardConflicts, type PortListener } from '../../src/model/expose.js';
import { forwardUnit } from '../../src/platform/linux/forward-units.js';
import { forwardJob } from '../../src/platform/darwin/forward-launchd.js';
import { firewallSpec } from '../../src/platform/linux/firewall/spec.js';

const IP = '10.254.254.254';
const RT = { nodePath: '/usr/bin/node', cliPath: '/opt/hostalias/dist/cli/main.js' };
const tcp = (address: string, port = 5173): PortListener => ({ proto: 'tcp', address, port });

test('chooseExposeVia: kernel where DNAT reaches, a relay for ::1 only or nothing yet; --via forces', () => {
  const spec = parseExpose('5173');
  const cases: Array<[string, PortListener[] | null, string]> = [
    ['127.0.0.1', [tcp('127.0.0.1')], 'kernel'],
    ['0.0.0.0', [tcp('0.0.0.0')], 'kernel'],
    [':: (dual-stack)', [tcp('::')], 'kernel'],
    ['127.0.0.1 and ::1', [tcp('::1'), tcp('127.0.0.1')], 'kernel'],
    ['::1 only', [tcp('::1')], 'relay'],
    ['nothing yet', [], 'relay'],
    ['::1 on another port, nothing on ours', [tcp('::1', 5174)], 'relay'],
    ['127.0.0.1 but UDP', [{ proto: 'udp', address: '127.0.0.1', port: 5173 }], 'relay'],
    ['platform cannot tell', null, 'kernel'],
  ];
  for (const [name, listeners, via] of cases) assert.equal(chooseExposeVia('auto', spec, listeners).via, via, name);
  assert.match(chooseExposeVia('auto', spec, [tcp('::1')]).reason, /\[::1\]:5173 only/);
  assert.equal(chooseExposeVia('kernel', spec, [tcp('::1')]).via, 'kernel');
  assert.match(chooseExposeVia('kernel', spec, [tcp('::1')]).notes.join(), /--via relay/, 'forcing kernel onto a ::1 service says what it costs');
  assert.equal(chooseExposeVia('relay', spec, [tcp('127.0.0.1')]).via, 'relay');
  // --to: the service's port decides.
  assert.equal(chooseExposeVia('auto', parseExpose('8080', { to: '5173' }), [tcp('::1')]).via, 'relay');
  assert.equal(chooseExposeVia('auto', parseExpose('8080', { to: '5173' }), [tcp('::1', 8080)]).via, 'relay');
});

test('chooseExposeVia: --keep-source needs the kernel path; a relay would hide it, so that is refused (exit 2)', () => {
  const keep = parseExpose('5173', { keepSource: true });
  const usage = (e: unknown) => e instanceof HostaliasError && e.code === 'usage' && /--keep-source/.test(e.message) && !!e.fix;
  assert.throws(() => chooseExposeVia('relay', keep, []), usage);
  assert.throws(() => chooseExposeVia('auto', keep, [tcp('::1')]), usage);
  assert.equal(chooseExposeVia('auto', keep, []).via, 'kernel', 'nothing yet: kernel, the only path that keeps the source');
  assert.equal(chooseExposeVia('auto', keep, [tcp('127.0.0.1')]).via, 'kernel');
});

const desired = (over: Partial<Desired> = {}): Desired => ({ ...defaultDesired(), ...over });
const relayed: ExposeSpec = { port: 5173, proto: 'tcp', to: 5173, keepSource: false, via: 'relay' };
const kernel: ExposeSpec = { ...relayed, via: 'kernel' };

test('conflicts: forward on an exposed port and expose on a forwarded one are refused with the fix (exit 3)', () => {
  const conflict = (re: RegExp) => (e: unknown) =>
    e instanceof HostaliasError && e.code === 'conflict' && re.test(e.message) && /unexpose|--uninstall|stop it/.test(e.fix ?? '');
  assert.throws(() => refuseForwardConflicts(desired({ exposes: [kernel] }), 5173, 'tcp', IP, false), conflict(/never receive/));
  assert.throws(() => refuseForwardConflicts(desired({ exposes: [relayed] }), 5173, 'tcp', IP, false), conflict(/own relay/));
  assert.throws(
    () => refuseForwardConflicts(desired({ exposes: [kernel] }), 5173, 'tcp', IP, true),
    conflict(/never receive/),
    '--for-expose does not excuse a kernel expose',
  );
  // Not conflicts: the expose's own relay, another protocol, another port, another listen address.
  refuseForwardConflicts(desired({ exposes: [relayed] }), 5173, 'tcp', IP, true);
  refuseForwardConflicts(desired({ exposes: [relayed] }), 5173, 'udp', IP, false);
  refuseForwardConflicts(desired({ exposes: [relayed] }), 5174, 'tcp', IP, false);
  refuseForwardConflicts(desired({ exposes: [kernel] }), 5173, 'tcp', '192.0.2.10', false);

  assert.throws(
    () => refuseExposeConflicts(desired({ forwards: [{ port: 5173, proto: 'tcp', targets: [] }] }), null, kernel, []),
    conflict(/forward 5173\/tcp --install/),
  );
  assert.throws(
    () => refuseExposeConflicts(desired(), null, kernel, [tcp(IP)]),
    conflict(/already listens on 10\.254\.254\.254/),
    'a forward running in a terminal',
  );
  refuseExposeConflicts(desired({ exposes: [relayed] }), desired({ exposes: [relayed] }), kernel, [tcp(IP)]); // our own relay, moving to kernel rules
  refuseExposeConflicts(desired(), null, kernel, [tcp('::1')]);
});

test('a relayed expose is a forward unit with --for-expose and no firewall rule; unexpose drops it', () => {
  const d = desired({
    exposes: [
      relayed,
      { port: 5432, proto: 'tcp', to: 5432, keepSource: false, via: 'kernel' },
      { port: 8080, proto: 'tcp', to: 5174, keepSource: false, via: 'relay' },
    ],
  });
  const relays = managedForwards(d);
  assert.deepEqual(relays, [
    { port: 5173, proto: 'tcp', targets: [], forExpose: true },
    { port: 8080, proto: 'tcp', targets: ['5174'], forExpose: true },
  ]);
  const unit = forwardUnit(relays[0] as (typeof relays)[0], IP, RT);
  assert.match(unit, /^ExecStart=\/usr\/bin\/node \/opt\/hostalias\/dist\/cli\/main\.js forward 5173\/tcp --listen 10\.254\.254\.254 --for-expose$/m);
  assert.match(unit, /^Description=hostalias: expose 10\.254\.254\.254:5173\/tcp to 127\.0\.0\.1:5173 or \[::1\]:5173$/m);
  assert.match(forwardUnit(relays[1] as (typeof relays)[0], IP, RT), / forward 8080\/tcp --listen 10\.254\.254\.254 --to 5174 --for-expose$/m);
  assert.deepEqual(
    firewallSpec(d, { lan: [], container: ['docker0'] })?.exposes.map((e) => e.port),
    [5432],
    'only the kernel expose has rules',
  );
  assert.equal(
    firewallSpec(desired({ lanGuard: false, exposes: [relayed] }), { lan: [], container: ['docker0'] }),
    null,
    'no guard and only relays: no firewall at all',
  );
  // macOS reuses the same spec: a LaunchDaemon running the same relay.
  assert.deepEqual(forwardJob(relays[0] as (typeof relays)[0], IP, RT).programArguments.slice(2), [
    'forward',
    '5173/tcp',
    '--listen',
    IP,
    '--to',
    '5173',
    '--for-expose',
  ]);
  assert.deepEqual(managedForwards(desired({ exposes: [kernel] })), []);
});

test('chooseExposeVia where no service manager runs: a port that needs a relay is refused (exit 7) with the foreground relay as the fix; nothing listening gets kernel rules', () => {
  const none = { runs: false, why: 'no service manager runs here (/run/systemd/system is missing)' };
  const fix = (args: string | readonly string[], needs?: string) => `[${needs ?? 'change'}] hostalias ${typeof args === 'string' ? args : args.join(' ')}`;
  const refused = (f: () => unknown, why: RegExp, foreground: string) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof HostaliasError);
      assert.equal(e.code, 'unsupported');
      assert.match(e.message, why);
      assert.match(e.message, /a relay can't start here: no service manager runs here .*; nothing was changed$/);
      assert.equal(e.fix, `${foreground}  # the relay in the foreground (Ctrl-C stops it; containers reach 5173/tcp while it runs)`);
      return true;
    });
  refused(
    () => chooseExposeVia('auto', parseExpose('5173'), [tcp('::1')], undefined, fix, none),
    /the service listens on \[::1\]:5173 only/,
    '[user] hostalias forward 5173/tcp',
  );
  refused(() => chooseExposeVia('relay', parseExpose('5173'), [], undefined, fix, none), /--via relay asks for a relay/, '[user] hostalias forward 5173/tcp');
  assert.throws(
    () => chooseExposeVia('auto', parseExpose('5173', { to: '3000' }), [tcp('::1', 3000)], undefined, fix, none),
    (e: unknown) => e instanceof HostaliasError && e.fix?.startsWith('[user] hostalias forward 5173/tcp --to 3000  #') === true,
  );
  const pending = chooseExposeVia('auto', parseExpose('5173'), [], undefined, fix, none);
  assert.equal(pending.via, 'kernel');
  assert.match(pending.reason, /no relay can run as a service here/);
  assert.equal(chooseExposeVia('auto', parseExpose('5173'), [tcp('127.0.0.1')], undefined, fix, none).via, 'kernel', '127.0.0.1: kernel rules, as anywhere');
  assert.equal(chooseExposeVia('auto', parseExpose('5173'), [tcp('::1')], undefined, fix).via, 'relay', 'negative control: where one runs, the relay');
});
