import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planCompose } from '../../src/docker/compose-change.js';
import { convergeUserFiles, userJournalPath } from '../../src/engine/user-files.js';
import { withFileLock } from '../../src/engine/lock.js';
import { HostaliasError } from '../../src/model/errors.js';
import { emptyPlan, type Plan } from '../../src/model/steps.js';

const T = { ip: '10.254.254.254', names: ['local_host'] };
const COMPOSE = '# my project\nservices:\n  web:\n    image: nginx\n';

async function project(t: TestContext): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hal-compose-engine-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'compose.yaml'), COMPOSE);
  return { dir, env: { XDG_STATE_HOME: join(dir, '.state') } };
}

test('compose is a plan of write steps applied by the engine: journaled, locked beside the file, idempotent', async (t) => {
  const { dir, env } = await project(t);
  const req = { cwd: dir, files: [], inPlace: true };
  const out = join(dir, 'compose.yaml');
  const dry = await convergeUserFiles(out, (fs) => planCompose(fs, req, T), { label: 'compose', dryRun: true, env });
  assert.equal(dry.applied, null);
  assert.deepEqual(
    dry.change.plan.steps.map((s) => s.kind === 'write' && s.path),
    [`${out}.hostalias.bak`, out],
    'backup first, then the edit',
  );
  assert.deepEqual((await readdir(dir)).sort(), ['compose.yaml'], 'a dry run writes nothing, not even a lock');
  const res = await convergeUserFiles(out, (fs) => planCompose(fs, req, T), { label: 'compose', env });
  assert.equal(res.applied?.done.length, 2);
  assert.match(await readFile(out, 'utf8'), /local_host:10\.254\.254\.254/);
  assert.equal(await readFile(`${out}.hostalias.bak`, 'utf8'), COMPOSE);
  assert.deepEqual((await readdir(dir)).sort(), ['.state', 'compose.yaml', 'compose.yaml.hostalias.bak'], 'the lock is gone after the run');
  const journal = await readFile(userJournalPath(env), 'utf8');
  assert.match(journal, /compose: done write .*compose\.yaml\.hostalias\.bak\n.*compose: done write .*compose\.yaml\n$/);
  const again = await convergeUserFiles(out, (fs) => planCompose(fs, req, T), { label: 'compose', env });
  assert.deepEqual(again.change.plan.steps, [], 'planning again after apply returns no steps');
});

test('a failing write rolls back the writes before it; the journal says so', async (t) => {
  const { dir, env } = await project(t);
  const first = join(dir, 'compose.hostalias.yaml');
  const plan: Plan = {
    ...emptyPlan(),
    steps: [
      { kind: 'write', path: first, content: 'services: {}\n', mode: 0o644, before: null, why: 'the override' },
      // A path below a regular file can't be created: ENOTDIR, whoever runs it.
      { kind: 'write', path: join(dir, 'compose.yaml', 'x'), content: 'x', mode: 0o644, before: null, why: 'an impossible write' },
    ],
  };
  await assert.rejects(
    convergeUserFiles(first, async () => ({ plan }), { label: 'compose', env }),
    (e: unknown) => e instanceof Error && /an impossible write/.test(e.message) && /1 earlier change\(s\) were rolled back/.test(e.message),
  );
  assert.deepEqual((await readdir(dir)).sort(), ['.state', 'compose.yaml'], 'the override written first is removed again');
  assert.equal(await readFile(join(dir, 'compose.yaml'), 'utf8'), COMPOSE);
  assert.match(await readFile(userJournalPath(env), 'utf8'), /FAILED write .*\n.*rolled back: restore .*compose\.hostalias\.yaml/);
});

test('two runs never write at once: the second is refused while the lock is held; commands are refused', async (t) => {
  const { dir, env } = await project(t);
  const out = join(dir, 'compose.hostalias.yaml');
  await withFileLock(out, async () => {
    await assert.rejects(
      convergeUserFiles(out, (fs) => planCompose(fs, { cwd: dir, files: [] }, T), { label: 'compose', env }),
      (e: unknown) => e instanceof HostaliasError && e.code === 'locked' && e.message.includes(`${out}.lock`),
    );
  });
  assert.deepEqual((await readdir(dir)).sort(), ['compose.yaml'], 'nothing written while locked');
  // Negative control: once released, the same call writes.
  await convergeUserFiles(out, (fs) => planCompose(fs, { cwd: dir, files: [] }, T), { label: 'compose', env });
  assert.match(await readFile(out, 'utf8'), /^# Managed by hostalias: `rm compose\.hostalias\.yaml` removes this/);
  const run: Plan = { ...emptyPlan(), steps: [{ kind: 'run', argv: ['touch', join(dir, 'x')], why: 'a command' }] };
  await assert.rejects(
    convergeUserFiles(out, async () => ({ plan: run }), { label: 'compose', env }),
    /runs no commands/,
  );
  assert.deepEqual((await readdir(dir)).sort(), ['.state', 'compose.hostalias.yaml', 'compose.yaml']);
});
