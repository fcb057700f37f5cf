import { mkdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { HostaliasError } from '../model/errors.js';
import type { SystemFs } from '../fs/system-fs.js';
import { STATE_DIR } from '../model/state.js';

/** Holds the state lock while `fn` runs, so two runs never interleave their changes. */
export async function withLock<T>(fs: SystemFs, fn: () => Promise<T>): Promise<T> {
  const dir = fs.resolve(STATE_DIR);
  const lockPath = `${dir}/lock`;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, { lockfilePath: lockPath, realpath: false, stale: 30_000, retries: { retries: 5, minTimeout: 100, maxTimeout: 500 } });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new HostaliasError('locked', `another hostalias run is changing this system (it holds ${lockPath})`, `wait for it to finish; if no hostalias is running, remove ${lockPath}`);
    }
    throw err;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
