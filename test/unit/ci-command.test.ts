/**
 * CI runs the README's "All tests" command and nothing else: `.ci/run`'s last line is that command,
 * verbatim, so what a reader pastes on a fresh machine is what CI proved.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../lab/netns.js';

test('.ci/run runs the README\'s "All tests" command verbatim', async () => {
  const readme = await readFile(join(repoRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('All tests'));
  const command = /```sh\n([^\n]+)\n```/.exec(section)?.[1];
  assert.ok(command, 'README has an "All tests" block with one command');
  const ci = (await readFile(join(repoRoot(), '.ci/run'), 'utf8')).trimEnd().split('\n');
  assert.equal(ci.at(-1), command);
  assert.match(command, /^bash \.ci\/install-packages && /, 'the command installs the system packages itself');
});
