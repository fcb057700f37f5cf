import { ProcessRunner } from '../exec/runner.js';
import type { Runner } from '../model/runner.js';
import { SystemFs } from '../fs/system-fs.js';
import type { PlatformName } from '../model/context.js';
import { filesRootOf, type Context } from '../model/context.js';
import { backendFor, hostPlatform } from '../platform/index.js';
import { nativeProbes } from './native.js';
import { loadState } from './state-store.js';
import { detectInvocation } from '../exec/invocation.js';
import type { Invocation } from '../model/invocation.js';

export interface ContextOptions {
  /** An image: write the system's files under this folder and touch no running system. */
  root?: string;
  /** Change this network namespace but keep files and state under this folder (tests, containers). */
  filesRoot?: string;
  platform?: PlatformName;
  runner?: Runner;
}

/**
 * The context the CLI and library callers use: real processes and files (under `root` or
 * `filesRoot`), the platform's backend. A foreign platform (`--platform darwin` on Linux) gets that
 * platform's preview runner, which answers its read-only probes, and is marked preview-only.
 */
export function defaultContext(opts: ContextOptions = {}): Context {
  const fs = new SystemFs(filesRootOf(opts));
  const host = hostPlatform();
  const backend = backendFor(opts.platform ?? host);
  const preview = backend.platform !== host;
  // In-process answers describe this machine: only with the real runner, which they stand in for.
  const real = opts.runner === undefined && !preview;
  const isRoot = typeof process.geteuid === 'function' ? process.geteuid() === 0 : false;
  let invocation: Invocation | undefined;
  return {
    runner: opts.runner ?? (preview ? backend.previewRunner(fs, process.platform, () => loadState(fs)) : new ProcessRunner()),
    ...(real ? { native: nativeProbes(process.env) } : {}),
    fs,
    backend,
    live: opts.root === undefined,
    previewOnly: preview,
    isRoot,
    env: process.env,
    // Asked on the first fix line: most runs print none.
    get invocation(): Invocation {
      invocation ??= detectInvocation({ env: process.env, isRoot });
      return invocation;
    },
  };
}
