import { ProcessRunner, type Runner } from '../exec/runner.js';
import { SystemFs } from '../fs/system-fs.js';
import type { Part } from './part.js';
import { MacPreviewRunner } from '../platform/darwin/preview-runner.js';

/**
 * Everything with side effects that an operation may use, injected so that tests can substitute
 * a fake runner or a rooted fs. `platform` selects the backend (`--platform darwin` previews macOS).
 */
export interface Context {
  runner: Runner;
  fs: SystemFs;
  platform: 'linux' | 'darwin';
  /** Effective uid is 0; changing commands refuse to run otherwise. */
  isRoot: boolean;
  env: Record<string, string | undefined>;
  /**
   * The plan is for another OS than this machine's (`--platform darwin` on Linux): it can be
   * shown with --dry-run but never applied. Tests that simulate that OS leave it unset.
   */
  previewOnly?: boolean;
  /** Replaces the platform's parts (tests of one part, embedders that want only the alias). */
  parts?: readonly Part[];
}

export function defaultContext(opts: { root?: string; platform?: 'linux' | 'darwin'; runner?: Runner } = {}): Context {
  const fs = new SystemFs(opts.root ?? '/');
  const host = process.platform === 'darwin' ? 'darwin' : 'linux';
  const platform = opts.platform ?? host;
  // macOS commands can't run elsewhere: a preview answers their probes as a Mac would (see MacPreviewRunner).
  const macPreview = platform === 'darwin' && host !== 'darwin';
  return {
    runner: opts.runner ?? (macPreview ? new MacPreviewRunner(fs) : new ProcessRunner()),
    fs,
    platform,
    previewOnly: platform !== host,
    isRoot: typeof process.geteuid === 'function' ? process.geteuid() === 0 : false,
    env: process.env,
  };
}
