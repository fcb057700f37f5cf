import type { Runner } from '../exec/runner.js';
import type { SystemFs } from '../fs/system-fs.js';
import type { Backend } from './backend.js';
import type { Part } from './part.js';

/**
 * Everything with side effects that an operation may use, injected so that tests can substitute
 * a fake runner or a rooted fs. `backend` is the platform's implementation (engine/context.ts
 * picks it; `--platform darwin` previews macOS anywhere).
 */
export interface Context {
  runner: Runner;
  fs: SystemFs;
  backend: Backend;
  /**
   * The running system may be read and changed: the kernel's addresses, routes, packet filter and
   * sysctls, and the container engine. False for `--root DIR` (an image: only files under DIR are
   * written). With `fs` rooted and `live` true (`--files-root DIR`, for tests and containers) the
   * network stack of this namespace changes but files and state stay under DIR; service managers,
   * which act on the real /etc, are called only when `fs` is not rooted.
   */
  live: boolean;
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
