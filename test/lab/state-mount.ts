/**
 * A mount namespace where a folder is bound at /var/lib, for commands that must read hostalias's
 * state where a plain invocation reads it (/var/lib/hostalias) while `up --files-root DIR` wrote
 * it under DIR: the machine's own /var/lib is never touched. A sleeping process inside `ns` holds
 * the mount namespace; commands join it and `ns` with nsenter. It goes when `ns` is destroyed.
 */
import { stopChild } from './exec.js';
import { holdMountNamespace, inMountNamespace } from './mount-ns.js';
import type { Netns } from './netns.js';

export interface StateMount {
  /** argv run in `ns` and in the mount namespace: nsenter --net=… --mount=… -- argv. */
  argv(argv: readonly string[]): string[];
}

/** Binds `varLib` (DIR/var/lib of an `up --files-root DIR`) at /var/lib; resolves once it is. */
export async function mountStateAt(ns: Netns, varLib: string): Promise<StateMount> {
  const { holder, ready } = holdMountNamespace(ns, 'mount --bind "$0" /var/lib', [varLib]);
  ns.onDestroy(async () => {
    await stopChild(holder, 2_000);
  });
  const pid = await ready;
  return { argv: (argv) => inMountNamespace(ns, pid, argv) };
}
