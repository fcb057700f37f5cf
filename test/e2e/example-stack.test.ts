/**
 * docs/example-stack.md, run as written in a lab namespace: its files are written and its commands
 * run in order with `sh`, each must succeed, and each output the page shows must be what was
 * printed. The host's services are real where Debian has them: Postgres (its own cluster on
 * 127.0.0.1:5432 with the page's role and database) and Redis (redis-server on 127.0.0.1:6379);
 * the Vite dev server is a stand-in answering HTTP on [::1]:5173, where Vite listens. What can't
 * be as on a user's machine, and how the lab stands in:
 * - images can't be pulled: `alpine:3.20` is the lab's busybox stand-in, `postgres:16` and
 *   `redis:7` that plus this machine's psql and redis-cli;
 * - the system's files stay under a folder: `hostalias` on PATH is the built CLI with
 *   `--files-root ROOT` after the command word, and the relay `expose` installs for the ::1 port is
 *   started from its unit's ExecStart, as systemd would;
 * - Debian has Compose v1 only: `docker compose …` runs `docker-compose …`, with `-T` after
 *   `exec`/`run` (no terminal here).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildAlpineStandIn, buildToolImage } from '../lab/debian-images.js';
import { startDockerd } from '../lab/dockerd.js';
import { execArgv, stopChild, which } from '../lab/exec.js';
import { repoRoot, startReplyServer, withNetns } from '../lab/netns.js';
import { PG_BIN, startPostgres } from '../lab/postgres.js';
import { pageSteps, showsAs } from '../support/doc-snippets.js';
import { execStart, rooted, spawnUntil, tempRoot } from '../support/e2e.js';

const PAGE = 'docs/example-stack.md';
const VITE_REPLY = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

const missing = [
  ...(which(`${PG_BIN}/postgres`) ? [] : ['postgresql']),
  ...(which('redis-server') ? [] : ['redis-server']),
  ...(which('docker-compose') ? [] : ['docker-compose']),
];

test(`${PAGE} runs as written: compose, Postgres, Redis and a dev server on ::1`, { timeout: 900_000 }, async (t) => {
  assert.deepEqual(missing, [], `install the Debian packages: apt-get install ${missing.join(' ')} (.ci/install-packages does)`);
  const steps = pageSteps(await readFile(join(repoRoot(), PAGE), 'utf8'));
  assert.ok(steps.filter((s) => s.kind === 'run').length >= 8, `the page's commands were read: ${JSON.stringify(steps)}`);

  const ns = await withNetns(t, 'stack');
  const d = await startDockerd(ns);
  t.after(() => d.stop());
  await buildAlpineStandIn(d);
  await buildToolImage(d, 'postgres:16', [{ from: `${PG_BIN}/psql`, to: 'usr/local/bin/psql' }]);
  await buildToolImage(d, 'redis:7', [{ from: '/usr/bin/redis-cli', to: 'usr/local/bin/redis-cli' }]);

  // The host's services, as the page describes them.
  const pg = await startPostgres(t, ns, { port: 5432 });
  await pg.sql("create role app login password 'secret'");
  await pg.sql('create database app owner app');
  await spawnUntil(t, ns, ['redis-server', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'], 'Ready to accept connections');
  const vite = await startReplyServer(ns, { host: '::1', port: 5173, reply: VITE_REPLY });
  t.after(() => vite.stop());

  // A systemd machine whose files are under ROOT; `hostalias` and `docker compose` as described above.
  const root = await tempRoot(t, 'stack');
  await mkdir(join(root, 'usr/lib/systemd'), { recursive: true });
  await writeFile(join(root, 'usr/lib/systemd/systemd'), '');
  await mkdir(join(root, 'run/systemd/system'), { recursive: true }); // systemd runs there: relays are installed as units
  const work = await tempRoot(t, 'stackw');
  const bin = join(work, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'hostalias'), `#!/bin/sh\ncmd=$1\nshift\nexec ${join(repoRoot(), 'dist/cli/hostalias')} "$cmd" --files-root ${root} "$@"\n`);
  const docker = (await execArgv(['sh', '-c', 'command -v docker'])).stdout.trim();
  await writeFile(
    join(bin, 'docker'),
    [
      '#!/bin/sh',
      `[ "$1" = compose ] || exec ${docker} "$@"`,
      'shift',
      'n=$# t=',
      'for a do',
      '  set -- "$@" "$a"',
      '  if [ -z "$t" ] && { [ "$a" = exec ] || [ "$a" = run ]; }; then set -- "$@" -T; t=1; fi',
      'done',
      'shift $n',
      'exec docker-compose "$@"',
      '',
    ].join('\n'),
  );
  await chmod(join(bin, 'hostalias'), 0o755);
  await chmod(join(bin, 'docker'), 0o755);
  const project = join(work, 'myapp');
  await mkdir(project);
  const env = { ...d.env, PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };

  /** As systemd would: starts every relay unit hostalias installed, stops those it removed. */
  const relays = new Map<string, ChildProcess>();
  let relaysRan = 0;
  const syncRelays = async () => {
    const dir = join(root, 'etc/systemd/system');
    const units = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith('hostalias-') && f.endsWith('.service'));
    for (const [unit, child] of relays)
      if (!units.includes(unit)) {
        await stopChild(child);
        relays.delete(unit);
      }
    for (const unit of units) {
      const argv = execStart(await readFile(join(dir, unit), 'utf8'));
      if (relays.has(unit) || !argv[1]?.endsWith('main.js') || !argv.includes('forward')) continue;
      relays.set(unit, await spawnUntil(t, ns, [...rooted(argv, root), '--files-root', root], 'forwarding'));
      relaysRan++;
    }
  };

  const run = (command: string) => ns.exec(['sh', '-c', `exec 2>&1\n${command}`], { cwd: project, env, allowFail: true, timeoutMs: 180_000 });
  let psql = '';
  for (const step of steps) {
    if (step.kind === 'file') {
      await writeFile(join(project, step.name), step.text);
      continue;
    }
    const r = await run(step.command);
    assert.equal(r.code, 0, `${PAGE}:${step.line}: ${step.command}\n${r.stdout}${r.stderr}`);
    if (step.expected)
      assert.ok(showsAs(r.stdout, step.expected), `${PAGE}:${step.line}: ${step.command}\nprinted:\n${r.stdout}\nthe page shows:\n${step.expected.join('\n')}`);
    if (step.command.includes('psql')) psql = step.command;
    await syncRelays();
  }
  assert.ok(relaysRan > 0, 'expose installed a relay for the ::1 dev server, and it ran');
  assert.equal(relays.size, 0, 'hostalias down removed the relay');
  assert.ok(vite.connections.length > 0, 'the dev server on ::1 was reached');

  // Negative control: after the page's last step (`hostalias down`), the same psql reaches nothing.
  assert.notEqual(psql, '', 'the page has a psql step');
  const after = await run(psql);
  assert.notEqual(after.code, 0, `after hostalias down, psql must fail: ${after.stdout}`);
});
