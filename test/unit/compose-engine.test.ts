import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { planCompose } from '../../src/docker/compose-change.js';
import { convergeUserFiles, userJournalPath } from '../../src/engine/user-files.js';
import { withFileLock } from '../../src/engine/lock.js';
import { HostaliasError } from '../../src/model/errors.js';
import { emptyPlan, type Plan } from '../../src/model/steps.js';

const T = { ip: '10.254.254.254', names: ['local_host'] };
const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
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
  const journal = await readFile(await userJournalPath(env), 'utf8');
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
  assert.match(await readFile(await userJournalPath(env), 'utf8'), /FAILED write .*\n.*rolled back: restore .*compose\.hostalias\.yaml/);
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

/** Every file and folder under `dir`, with its owner. */
async function owners(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = join(rel, name);
    const st = await lstat(join(dir, path));
    out.push(`${path} ${st.uid}`);
    if (st.isDirectory()) out.push(...(await owners(dir, path)));
  }
  return out;
}

/** A home and a project of user `uid` (nobody): what root sees under `sudo -E` with the user's HOME. */
async function userProject(t: TestContext, uid = 65534): Promise<{ home: string; dir: string }> {
  const base = await mkdtemp(join(tmpdir(), 'hal-compose-user-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const home = join(base, 'home');
  const dir = join(home, 'proj');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'compose.yaml'), COMPOSE);
  for (const p of [home, dir, join(dir, 'compose.yaml')]) await chown(p, uid, uid);
  return { home, dir };
}

test("as root with a user's HOME and project (sudo -E): refused, naming the folder; nothing root-owned is left in the user's home", async (t) => {
  const { home, dir } = await userProject(t);
  const before = await owners(home);
  const out = join(dir, 'compose.hostalias.yaml');
  await assert.rejects(
    convergeUserFiles(out, (fs) => planCompose(fs, { cwd: dir, files: [] }, T), { label: 'compose', env: { HOME: home } }),
    (e: unknown) =>
      e instanceof HostaliasError &&
      e.code === 'usage' &&
      e.message.includes(`${home} belongs to uid 65534`) &&
      /run it as the user who owns .*, without sudo/.test(e.fix ?? ''),
  );
  assert.deepEqual(await owners(home), before, 'no ~/.local, no journal, no lock, no override');
  // The same through the CLI, as `sudo -E hostalias compose` runs it in the user's project.
  const cli = await new Promise<{ code: number; stderr: string }>((resolve) => {
    const env = { PATH: process.env['PATH'], HOME: home, LC_ALL: 'C', DOCKER_HOST: 'unix:///nonexistent/hostalias.sock' };
    execFile(process.execPath, [CLI, 'compose'], { cwd: dir, env, timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /refusing to write .*compose\.hostalias\.yaml\.lock as root: .*\/home belongs to uid 65534/);
  assert.match(cli.stderr, /\n {2}fix: run it as the user who owns .*\/home, without sudo/);
  assert.deepEqual(await owners(home), before, 'the CLI left nothing either');
});

test("as root in root's own project with a user's HOME: written, and the journal is not in the user's home", async (t) => {
  const { dir, env } = await project(t);
  const { home } = await userProject(t);
  const before = await owners(home);
  const out = join(dir, 'compose.hostalias.yaml');
  // sudo -E: the user's HOME, and XDG_STATE_HOME in a folder of root's.
  const res = await convergeUserFiles(out, (fs) => planCompose(fs, { cwd: dir, files: [] }, T), { label: 'compose', env: { ...env, HOME: home } });
  assert.equal(res.applied?.done.length, 1);
  assert.deepEqual(await owners(home), before, "nothing written in the user's home");
  assert.equal(await userJournalPath({ ...env, HOME: home }), join(env['XDG_STATE_HOME'] ?? '', 'hostalias/journal.log'));
  // Without XDG_STATE_HOME, root passes over the user's HOME for its own home (never written by this test).
  assert.equal(await userJournalPath({ HOME: home }), join(userInfo().homedir, '.local/state/hostalias/journal.log'));
});

test('the journal has no fixed name in a shared temp folder: without HOME, the account home', async () => {
  const path = await userJournalPath({});
  assert.equal(path, join(userInfo().homedir, '.local/state/hostalias/journal.log'));
  assert.ok(!path.startsWith(tmpdir()), path);
  // A user's own run keeps its XDG_STATE_HOME / HOME, whoever owns them (the kernel holds it to its rights).
  assert.equal(await userJournalPath({ HOME: '/home/someone' }, 1000), '/home/someone/.local/state/hostalias/journal.log');
});
