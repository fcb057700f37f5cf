import assert from 'node:assert/strict';
import { test } from 'node:test';
import { down, up } from '../../src/engine/converge.js';
import { hostsWithNames } from '../../src/parts/hosts-file.js';
import { hasBlock, setBlock, stripBlock } from '../../src/model/marked-block.js';
import { FakeIp } from '../support/fake-ip.js';
import { makeRoot, readTree, rootedContext } from '../support/rooted.js';

const SAMPLES: Record<string, string> = {
  empty: '',
  'Debian default':
    '127.0.0.1\tlocalhost\n127.0.1.1\tbox\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n',
  'no final newline': '127.0.0.1 localhost\n192.0.2.5 printer',
  'trailing blank lines': '127.0.0.1 localhost\n\n\n',
  'CRLF line ends': '127.0.0.1 localhost\r\n192.0.2.5 printer\r\n',
  'tabs and odd spacing': '  127.0.0.1\t\tlocalhost   # keep me\n',
};

for (const [name, content] of Object.entries(SAMPLES)) {
  test(`hosts block set → strip gives back the user's bytes: ${name}`, () => {
    const withBlock = hostsWithNames(content, '10.254.254.254', ['local_host', 'host.docker.internal']);
    assert.ok(hasBlock(withBlock));
    assert.ok(withBlock.includes('10.254.254.254\tlocal_host host.docker.internal\n'));
    assert.ok(withBlock.startsWith(content.endsWith('\n') || content === '' ? content : `${content}\n`), 'user content comes first, unchanged');
    assert.equal(hostsWithNames(withBlock, '10.254.254.254', ['local_host', 'host.docker.internal']), withBlock, 'setting again is a no-op');
    assert.equal(stripBlock(withBlock), content);
    const moved = hostsWithNames(withBlock, '10.254.254.1', ['local']);
    assert.equal(moved.split('# BEGIN hostalias').length, 2, 'one block only');
    assert.equal(stripBlock(moved), content);
  });
}

test('setBlock inserts after an anchor line and strips back exactly', () => {
  const text = 'auto lo\niface lo inet loopback\n\nauto eth0\n';
  const set = setBlock(text, ['    up true'], /^iface lo/);
  assert.equal(set, 'auto lo\niface lo inet loopback\n# BEGIN hostalias (managed: removed by `hostalias down`)\n    up true\n# END hostalias\n\nauto eth0\n');
  assert.equal(stripBlock(set), text);
});

test('up --hosts-file / down keeps user edits made in between', async (t) => {
  const original = SAMPLES['no final newline'] ?? '';
  const root = await makeRoot(t, { '/etc/hosts': original });
  const ctx = rootedContext(new FakeIp().runner, root);
  await up(ctx, { hostsFile: true, persist: 'none', names: ['local_host', 'api.local'] });
  const tree = await readTree(root);
  assert.equal(
    tree['/etc/hosts'],
    `${original}\n# BEGIN hostalias (managed: removed by \`hostalias down\`)\n10.254.254.254\tlocal_host api.local\n# END hostalias`,
  );
  assert.equal(tree['/var/lib/hostalias/backups/etc_hosts'], original);
  // The user adds a line above the block while hostalias is up: down must keep it.
  await ctx.fs.write('/etc/hosts', (tree['/etc/hosts'] ?? '').replace('192.0.2.5 printer', '192.0.2.5 printer\n192.0.2.6 scanner'));
  await down(ctx);
  const after = await readTree(root);
  assert.equal(after['/etc/hosts'], '127.0.0.1 localhost\n192.0.2.5 printer\n192.0.2.6 scanner');
  assert.equal(after['/var/lib/hostalias/backups/etc_hosts'], undefined);
});
