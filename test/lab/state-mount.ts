/**
 * A mount namespace where a folder is bound at /var/lib, for commands that must read hostalias's
 * state where a plain invocation reads it (/var/lib/hostalias) while `up --files-root DIR` wrote
 * it under DIR: the machine's own /var/lib is never touched. A sleeping process inside `ns` holds
 * the mount namespace; commands join it and `ns` with nsenter. It goes when `ns` is destroyed.
 */
import { spawn } from 'node:child_process';
import { onLines, stopChild } from './exec.js';
import type { Netns } from './netns.js';

export interface StateMount {
  /** argv run in `ns` and in the mount namespace: nsenter --net=… --mount=… -- argv. */
  argv(argv: readonly string[]): string[];
}

/** Binds `varLib` (DIR/var/lib of an `up --files-root DIR`) at /var/lib; resolves once it is. */
export function mountStateAt(ns: Netns, varLib: string): Promise<StateMount> {
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
      'mount --bind "$0" /var/lib && echo "held $$" && exec sleep 86400',
      varLib,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  ns.onDestroy(async () => {
    await stopChild(holder, 2_000);
  });
  return new Promise((resolve, reject) => {
    onLines(holder.stdout, (l) => {
      const pid = /^held (\d+)$/.exec(l)?.[1];
      if (pid) resolve({ argv: (argv) => ['nsenter', `--net=${ns.path}`, `--mount=/proc/${pid}/ns/mnt`, '--', ...argv] });
    });
    holder.once('exit', (code) => reject(new Error(`the mount namespace holder exited (${code})`)));
  });
}
