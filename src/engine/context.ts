import { ProcessRunner, type Runner } from '../exec/runner.js';
import { SystemFs } from '../fs/system-fs.js';
import type { PlatformName } from '../model/backend.js';
import type { Context } from '../model/context.js';
import { backendFor, hostPlatform } from '../platform/index.js';

/**
 * The context the CLI and library callers use: real processes and files (under `root`), the
 * platform's backend. A foreign platform (`--platform darwin` on Linux) gets that platform's
 * preview runner, which answers its read-only probes, and is marked preview-only.
 */
export function defaultContext(opts: { root?: string; platform?: PlatformName; runner?: Runner } = {}): Context {
  const fs = new SystemFs(opts.root ?? '/');
  const host = hostPlatform();
  const backend = backendFor(opts.platform ?? host);
  const preview = backend.platform !== host;
  return {
    runner: opts.runner ?? (preview ? backend.previewRunner(fs, process.platform) : new ProcessRunner()),
    fs,
    backend,
    previewOnly: preview,
    isRoot: typeof process.geteuid === 'function' ? process.geteuid() === 0 : false,
    env: process.env,
  };
}
