import { test } from 'node:test';
import assert from 'node:assert/strict';
import { observeInit, systemdExecLine } from '../../src/platform/linux/systemd.js';
import { shellQuote } from '../../src/model/shell.js';
import { FakeRunner } from '../support/fake-runner.js';
import { makeRoot, rootedContext } from '../support/rooted.js';

test('systemd ExecStart quoting is its own format, not shell quoting', () => {
  const argv = ['/opt/my node/bin/node', '/usr/lib/hostalias/cli.js', 'forward', '--to', 'a"b\\c', "it's"];
  assert.equal(systemdExecLine(argv), '"/opt/my node/bin/node" /usr/lib/hostalias/cli.js forward --to "a\\"b\\\\c" "it\'s"');
  assert.equal(shellQuote(argv), "'/opt/my node/bin/node' /usr/lib/hostalias/cli.js forward --to 'a\"b\\c' 'it'\\''s'");
  assert.equal(
    systemdExecLine(['/usr/sbin/ip', 'addr', 'replace', '10.254.254.254/32']),
    '/usr/sbin/ip addr replace 10.254.254.254/32',
    'plain words stay as they are',
  );
});

test('init facts: under --root only the folder speaks (systemd installed there), never the live PID 1; asked once per context', async (t) => {
  const root = await makeRoot(t, { '/usr/lib/systemd/systemd': '', '/run/systemd/system/.keep': '' });
  const ctx = rootedContext(new FakeRunner(), root);
  const facts = await observeInit(ctx);
  assert.deepEqual(facts, { pid1: null, systemdRunning: false, systemdInstalled: true });
  assert.equal(observeInit(ctx), observeInit(ctx), 'one observation per context');
  const bare = rootedContext(new FakeRunner(), await makeRoot(t));
  assert.equal((await observeInit(bare)).systemdInstalled, false);
});
