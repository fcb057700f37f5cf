/**
 * A small tmpfs mounted in a private mount namespace, for tests that need a full disk or no free
 * inode: the mount exists only for the commands that join that namespace, never on the machine's
 * own file systems (a test that fails leaves no mount behind; the namespace goes with its holder).
 * The test reads and writes the tmpfs from outside through /proc/PID/root of the namespace's holder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { stopChild } from './exec.js';
import { holdMountNamespace, inMountNamespace } from './mount-ns.js';
import type { Netns } from './netns.js';

export interface PrivateTmpfs {
  /** The mount point, as commands run through argv() see it. */
  dir: string;
  /** The same folder seen from this process (through the holder's /proc/PID/root). */
  view: string;
  /** argv run in `ns` and in the mount namespace: nsenter --net=… --mount=… -- argv. */
  argv(argv: readonly string[]): string[];
}

/**
 * Mounts a tmpfs of `size` (e.g. `2m`) with at most `inodes` inodes on a fresh folder, in a mount
 * namespace of its own; removed after the test, also when it fails.
 */
export async function privateTmpfs(t: Pick<TestContext, 'after'>, ns: Netns, opts: { size: string; inodes?: number }): Promise<PrivateTmpfs> {
  const dir = await mkdtemp(`${LAB_TMP_PREFIX}tmpfs-`);
  const options = `size=${opts.size},mode=0755${opts.inodes === undefined ? '' : `,nr_inodes=${opts.inodes}`}`;
  const { holder, ready } = holdMountNamespace(ns, 'mount -t tmpfs -o "$1" tmpfs "$0"', [dir, options]);
  t.after(async () => {
    await stopChild(holder, 2_000);
    await rm(dir, { recursive: true, force: true });
  });
  const pid = await ready;
  return {
    dir,
    view: `/proc/${pid}/root${dir}`,
    argv: (argv) => inMountNamespace(ns, pid, argv),
  };
}
