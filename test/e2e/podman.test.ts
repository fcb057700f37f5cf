/**
 * Podman, rootful and rootless, against real Podman 4.3 in namespaces this file
 * creates: names by `flags` and by `run --engine podman`, a 127.0.0.1-only service through
 * `expose` (the service sees 127.0.0.1), a Podman network created after `up`, a real Postgres
 * login (stock scram rule for 127.0.0.1) from a rootless container, and nothing after `down`.
 *
 * SAFETY: the alias and 127.0.0.1 only, inside the namespaces made here; Podman's files, the
 * rootless user's home and Postgres's cluster live in /tmp/hal-… folders removed at the end, with
 * the user (userdel) and every process (by PID).
 */
import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { which } from '../lab/exec.js';
import { cliPath, runCli, startReplyServer, withNetns, type Netns } from '../lab/netns.js';
import { podmanPrerequisites, startPodman, type Podman } from '../lab/podman.js';
import { PG_BIN, startPostgres } from '../lab/postgres.js';
import { tempRoot } from '../support/e2e.js';
import { ALIAS, ok } from './expose-lab.js';

function cliEnv(pm: Podman): NodeJS.ProcessEnv {
  // No Docker here: a socket that cannot exist keeps the CLI from finding one outside the lab.
  return { ...process.env, ...pm.vars, DOCKER_HOST: 'unix:///nonexistent/hostalias-podman/docker.sock' };
}

async function lab(
  t: TestContext,
  tag: string,
  rootless: boolean,
): Promise<{ ns: Netns; pm: Podman; root: string; cli: (args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }> }> {
  const ns = await withNetns(t, tag);
  const pm = await startPodman(ns, { rootless });
  // Before the namespace goes (t.after hooks run in the order given): podman rm runs inside it.
  ns.onDestroy(() => pm.stop());
  const root = await tempRoot(t, tag);
  await chmod(root, 0o755); // the rootless user reads the recorded names (hostalias run)
  return { ns, pm, root, cli: (args) => runCli(ns, [...args, '--files-root', root], { env: cliEnv(pm) }) };
}

/** What a container prints after connecting to NAME:PORT ('' when refused or timed out). */
async function podmanTcp(pm: Podman, runArgs: readonly string[], host: string, port: number): Promise<string> {
  const r = await pm.podman(['run', '--rm', ...runArgs, pm.image, 'sh', '-c', `sleep 1 | nc -w 3 ${host} ${port}`], { allowFail: true, timeoutMs: 60_000 });
  return r.stdout.trim();
}

const prereq = [...podmanPrerequisites(true), ...(which(`${PG_BIN}/postgres`) ? [] : ['postgresql'])];

test('podman (rootful): flags, run --engine podman, expose, a network created after up, down', {
  timeout: 600_000,
  skip: prereq.length ? `missing: ${prereq.join(', ')}` : false,
}, async (t) => {
  const { ns, pm, root, cli } = await lab(t, 'pmroot', false);
  const any = await startReplyServer(ns, { host: '0.0.0.0', reply: 'any-ok\n' });
  const local = await startReplyServer(ns, { host: '127.0.0.1', reply: 'local-ok\n' });
  // Podman's default network (cni-podman0) exists once a container has used it.
  ok(await pm.podman(['run', '--rm', pm.image, 'true']), 'first podman run');

  const up = await cli(['up']);
  ok(up, 'up');
  assert.match(up.stdout, /podman bridges: cni-podman0/, 'up asks rootful Podman for its bridges');
  const flags = (await cli(['flags'])).stdout.trim().split(/\s+/);
  assert.ok(flags.includes(`local_host:${ALIAS}`) || flags.includes(`--add-host=local_host:${ALIAS}`), `flags: ${flags.join(' ')}`);
  assert.equal(await podmanTcp(pm, flags, 'local_host', any.port), 'any-ok', 'podman run $(hostalias flags): a 0.0.0.0 service by name');

  const run = await pm.exec(
    [
      process.execPath,
      cliPath(),
      'run',
      '--engine',
      'podman',
      '--files-root',
      root,
      '--rm',
      pm.image,
      'sh',
      '-c',
      `sleep 1 | nc -w 3 host.docker.internal ${any.port}`,
    ],
    { allowFail: true },
  );
  assert.equal(run.stdout.trim(), 'any-ok', `hostalias run --engine podman: ${run.stderr}`);

  assert.equal(await podmanTcp(pm, flags, 'local_host', local.port), '', 'a 127.0.0.1-only service refuses before expose');
  ok(await cli(['expose', String(local.port)]), 'expose');
  assert.equal(await podmanTcp(pm, flags, 'local_host', local.port), 'local-ok', 'exposed: the rootful container reaches it');
  assert.equal(local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'and the service sees 127.0.0.1');

  ok(await pm.podman(['network', 'create', 'late']), 'podman network create');
  assert.equal(
    await podmanTcp(pm, ['--network', 'late', ...flags], 'local_host', local.port),
    'local-ok',
    'a Podman network created after up: first try, no refresh',
  );

  const doc = await cli(['doctor', '--probe', String(local.port), '--engine', 'podman', '--network', 'late', '--image', pm.image, '--json']);
  const findings = (JSON.parse(doc.stdout) as { findings: Finding[] }).findings;
  assert.match(
    findings.find((f) => f.id === 'podman')?.message ?? '',
    /rootful, cni networks: rootful podman: containers reach the alias through their network's bridge/,
    doc.stdout,
  );
  assert.ok(
    findings.some((f) => f.id === 'probe' && f.status === 'ok' && f.message === `local_host:${local.port}: connected`),
    `doctor --probe --engine podman --network late:\n${doc.stdout}\n${doc.stderr}`,
  );
  assert.match(doc.stderr, /on network late, podman/);

  ok(await cli(['down']), 'down');
  assert.equal(await podmanTcp(pm, flags, ALIAS, local.port), '', 'after down nothing reaches the exposed port');
});

interface Finding {
  id: string;
  status: string;
  message: string;
}

test('podman (rootless, slirp4netns): flags, run --engine podman, exposed service, a real Postgres login as 127.0.0.1, down', {
  timeout: 600_000,
  skip: prereq.length ? `missing: ${prereq.join(', ')}` : false,
}, async (t) => {
  const { ns, pm, root, cli } = await lab(t, 'pmuser', true);
  const any = await startReplyServer(ns, { host: '0.0.0.0', reply: 'any-ok\n' });
  const local = await startReplyServer(ns, { host: '127.0.0.1', reply: 'local-ok\n' });
  ok(await cli(['up']), 'up');
  const flags = (await cli(['flags'])).stdout.trim().split(/\s+/);
  assert.equal(
    await podmanTcp(pm, flags, 'local_host', any.port),
    'any-ok',
    'rootless container, 0.0.0.0 service by name (slirp4netns connects from the host stack)',
  );
  const run = await pm.exec(
    [process.execPath, cliPath(), 'run', '--engine', 'podman', '--files-root', root, '--rm', pm.image, 'sh', '-c', `sleep 1 | nc -w 3 local ${any.port}`],
    { allowFail: true },
  );
  assert.equal(run.stdout.trim(), 'any-ok', `hostalias run --engine podman as the unprivileged user: ${run.stderr}`);

  assert.equal(await podmanTcp(pm, flags, 'local_host', local.port), '', 'a 127.0.0.1-only service refuses before expose');
  ok(await cli(['expose', String(local.port)]), 'expose');
  assert.equal(await podmanTcp(pm, flags, 'local_host', local.port), 'local-ok', 'exposed: the rootless container reaches it (nat output DNAT)');
  const doc = await pm.exec([process.execPath, cliPath(), 'doctor', '--engine', 'podman', '--json', '--files-root', root], { allowFail: true });
  const podman = (JSON.parse(doc.stdout) as { findings: Finding[] }).findings.find((f) => f.id === 'podman');
  assert.match(
    podman?.message ?? '',
    /rootless, slirp4netns: rootless podman: containers reach the alias through slirp4netns, which connects from this host itself/,
    doc.stdout,
  );
  assert.equal(local.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the service sees 127.0.0.1');

  await t.test('a real psql logs in with the stock scram rule for 127.0.0.1', async () => {
    const pg = await startPostgres(t, ns);
    ok(await cli(['expose', String(pg.port)]), 'expose postgres');
    // psql from the host's own files, mounted read-only into the busybox container.
    const mounts = ['-v', '/usr:/usr:ro', '-v', '/usr/lib:/lib:ro', '-v', '/usr/lib64:/lib64:ro'];
    const sql = 'select host(inet_client_addr())';
    const psql = (password: string) =>
      pm.podman(
        [
          'run',
          '--rm',
          ...mounts,
          '-e',
          `PGPASSWORD=${password}`,
          ...flags,
          pm.image,
          `${PG_BIN}/psql`,
          '-h',
          'host.docker.internal',
          '-p',
          String(pg.port),
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-tAc',
          sql,
        ],
        { allowFail: true, timeoutMs: 60_000 },
      );
    const r = await psql(pg.password);
    assert.equal(r.code, 0, `psql: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '127.0.0.1', 'Postgres saw the client as 127.0.0.1 and scram accepted the password');
    const wrong = await psql('wrong');
    assert.notEqual(wrong.code, 0, 'control: a wrong password is refused (the rule really is scram, not trust)');
    assert.match(wrong.stderr, /password authentication failed/);
  });

  ok(await cli(['down']), 'down');
  assert.equal(await podmanTcp(pm, flags, ALIAS, local.port), '', 'after down nothing reaches the exposed port');
});
