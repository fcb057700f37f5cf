/**
 * A small tmpfs mounted in a private mount namespace, for tests that need a full disk or no free
 * inode: the mount exists only for the commands that join that namespace, never on the machine's
 * own file systems (a test that fails leaves no mount behind; the namespace goes with its holder).
 * A sleeping process inside `ns` holds the mount namespace; commands join it and `ns` with
 * nsenter, and the test reads and writes the tmpfs from outside through /proc/PID/root.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { onLines, stopChild } from './exec.js';
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
  const holder = spawn(
    'nsenter',
    [
      `--net=${ns.path}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs -o "$1" tmpfs "$0" && echo "held $$" && exec sleep 86400',
      dir,
      options,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(async () => {
    await stopChild(holder, 2_000);
    await rm(dir, { recursive: true, force: true });
  });
  const pid = await new Promise<string>((resolve, reject) => {
    onLines(holder.stdout, (l) => {
      const held = /^held (\d+)$/.exec(l)?.[1];
      if (held) resolve(held);
    });
    holder.once('exit', (code) => reject(new Error(`the mount namespace holder exited (${code})`)));
  });
  return {
    dir,
    view: `/proc/${pid}/root${dir}`,
    argv: (argv) => ['nsenter', `--net=${ns.path}`, `--mount=/proc/${pid}/ns/mnt`, '--', ...argv],
  };
}
