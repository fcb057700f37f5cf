/**
 * A private mount namespace inside a lab namespace, held by a sleeping process: the mounts a test
 * needs exist only for the commands that join it, never on the machine's own file systems, and go
 * with the holder. Used by state-mount.ts (hostalias's state at /var/lib) and private-tmpfs.ts (a
 * full disk).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { onLines } from './exec.js';
import type { Netns } from './netns.js';

export interface MountNamespace {
  /** The sleeping process that holds the namespace: stop it to end the namespace. */
  holder: ChildProcess;
  /** Resolves with the holder's pid once `script` made its mounts; rejects if it exited first. */
  ready: Promise<string>;
}

/** `nsenter` argv that runs `argv` in `ns` and in the mount namespace the process `pid` holds. */
export function inMountNamespace(ns: Netns, pid: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${ns.path}`, `--mount=/proc/${pid}/ns/mnt`, '--', ...argv];
}

/**
 * Starts a process in `ns` and in a new private mount namespace that runs `script` (sh -c, with
 * `args` as $0, $1, …) to make its mounts, then sleeps. The caller stops `holder` when done.
 */
export function holdMountNamespace(ns: Netns, script: string, args: readonly string[]): MountNamespace {
  const holder = spawn(
    'nsenter',
    [`--net=${ns.path}`, '--', 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${script} && echo "held $$" && exec sleep 86400`, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const ready = new Promise<string>((resolve, reject) => {
    onLines(holder.stdout as NonNullable<ChildProcess['stdout']>, (l) => {
      const pid = /^held (\d+)$/.exec(l)?.[1];
      if (pid) resolve(pid);
    });
    holder.once('exit', (code) => reject(new Error(`the mount namespace holder exited (${code})`)));
  });
  return { holder, ready };
}
