/**
 * A throwaway Postgres cluster from Debian's postgresql package, run by the `postgres` user inside
 * a lab namespace, listening on 127.0.0.1 only (its socket in a private folder, never the
 * machine's /var/run/postgresql), with initdb's scram rule for 127.0.0.1 (what Debian's
 * pg_hba.conf ships). Stopped and removed in t.after, or when the namespace goes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { execArgv, sleep } from './exec.js';
import type { Netns } from './netns.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface LabPostgres {
  port: number;
  /** The `postgres` superuser's password. */
  password: string;
  /** Runs SQL as the superuser over the cluster's private socket (psql -c); its stdout. */
  sql(statement: string): Promise<string>;
}

export async function startPostgres(t: Pick<TestContext, 'after'>, ns: Netns, opts: { port?: number } = {}): Promise<LabPostgres> {
  const dir = await mkdtemp(`${LAB_TMP_PREFIX}pg-`);
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  const data = join(dir, 'data');
  const password = `pw${process.pid}`;
  await writeFile(join(dir, 'pw'), `${password}\n`);
  await execArgv(['chown', '-R', 'postgres:postgres', dir]);
  const port = opts.port ?? 20000 + (process.pid % 20000);
  const asPg = (cmd: string) => ns.exec(['su', 'postgres', '-s', '/bin/sh', '-c', cmd], { timeoutMs: 120_000 });
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (!ns.destroyed)
        await ns.exec(['su', 'postgres', '-s', '/bin/sh', '-c', `${PG_BIN}/pg_ctl -D ${data} -m immediate stop`], { allowFail: true, timeoutMs: 60_000 });
      await rm(dir, { recursive: true, force: true });
    })());
  // Whichever comes first: the namespace going away (it would kill postgres) or the test's end.
  ns.onDestroy(stop);
  t.after(stop);
  await asPg(`${PG_BIN}/initdb -D ${data} -U postgres --auth-local=peer --auth-host=scram-sha-256 --pwfile=${dir}/pw >/dev/null`);
  const hba = (await execArgv(['cat', join(data, 'pg_hba.conf')])).stdout;
  assert.match(hba, /^host\s+all\s+all\s+127\.0\.0\.1\/32\s+scram-sha-256$/m, 'the stock rule for 127.0.0.1 is scram');
  await asPg(`${PG_BIN}/pg_ctl -D ${data} -l ${dir}/log -w -t 60 -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}" start >/dev/null`);
  for (let i = 0; i < 50; i++) {
    if ((await ns.exec([`${PG_BIN}/pg_isready`, '-h', '127.0.0.1', '-p', String(port)], { allowFail: true })).code === 0) break;
    await sleep(200);
  }
  return {
    port,
    password,
    sql: async (statement) =>
      (await ns.exec(['su', 'postgres', '-s', '/bin/sh', '-c', `${PG_BIN}/psql -h ${dir} -p ${port} -U postgres -v ON_ERROR_STOP=1 -tAc "$0"`, statement]))
        .stdout,
  };
}
