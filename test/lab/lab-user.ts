/**
 * An unprivileged user for rootless engines (Podman, Docker), made for one test: `useradd` with a
 * home under the test's folder (Debian's useradd also gives it a /etc/subuid and /etc/subgid
 * range). remove() kills every process it owns by PID (rootless pause processes ignore SIGTERM),
 * then `userdel --remove`, which also drops the subordinate ranges.
 */
import { chown, mkdir } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { killPidsSync, registerExitCleanup } from './cleanup.js';
import { execArgv, sleep } from './exec.js';

export interface LabUser {
  name: string;
  uid: number;
  home: string;
  /** XDG_RUNTIME_DIR for the user: HOME/run, mode 0700. */
  runtimeDir: string;
  remove(): Promise<void>;
}

export function pidsOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'));
      if (m && Number(m[1]) === uid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export async function createLabUser(prefix: string, home: string): Promise<LabUser> {
  const name = `${prefix}${process.pid % 100000}`;
  await execArgv(['useradd', '--create-home', '--home-dir', home, '--shell', '/bin/sh', name]);
  const uid = Number((await execArgv(['id', '-u', name])).stdout.trim());
  const unregister = registerExitCleanup(() => killPidsSync(pidsOfUid(uid)));
  const runtimeDir = join(home, 'run');
  await mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await chown(runtimeDir, uid, uid);
  let removed: Promise<void> | null = null;
  return {
    name,
    uid,
    home,
    runtimeDir,
    remove: () =>
      (removed ??= (async () => {
        for (let i = 0; i < 10 && pidsOfUid(uid).length > 0; i++) {
          killPidsSync(pidsOfUid(uid));
          await sleep(200);
        }
        unregister();
        await execArgv(['userdel', '--remove', name], { allowFail: true });
      })()),
  };
}
