/**
 * `hostalias compose` needs no root: an ordinary user (nobody) writes the override in their own
 * folder, through the engine (its journal in the user's state dir, its lock beside the file).
 * Root is needed only to become that user. No network is touched.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chown, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execArgv } from '../lab/exec.js';
import { cliPath } from '../lab/netns.js';

const NOBODY = 65534;

test('compose as an unprivileged user: the override is written, journaled and locked without root; a file of theirs is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-compose-user-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: nginx\n');
  await chown(dir, NOBODY, NOBODY);
  await chown(join(dir, 'compose.yaml'), NOBODY, NOBODY);
  const asNobody = (args: string[]) =>
    execArgv(
      [
        'setpriv',
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        'env',
        `HOME=${dir}`,
        process.execPath,
        cliPath(),
        'compose',
        '--root',
        join(dir, 'no-state'),
        ...args,
      ],
      { cwd: dir, allowFail: true, timeoutMs: 60_000 },
    );
  const r = await asNobody([]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await readFile(join(dir, 'compose.hostalias.yaml'), 'utf8'), /local_host:10\.254\.254\.254/);
  assert.match(await readFile(join(dir, '.local/state/hostalias/journal.log'), 'utf8'), /compose: done write .*compose\.hostalias\.yaml/);
  assert.deepEqual((await readdir(dir)).sort(), ['.local', 'compose.hostalias.yaml', 'compose.yaml'], 'no lock left behind');
  // Negative control: an -o file that is not ours is refused (exit 2) and left as it was.
  await writeFile(join(dir, 'mine.yaml'), 'services: {}\n');
  const refused = await asNobody(['-o', 'mine.yaml']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /mine\.yaml exists and was not written by hostalias/);
  assert.equal(await readFile(join(dir, 'mine.yaml'), 'utf8'), 'services: {}\n');
});
