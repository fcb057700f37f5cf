import { ProcessRunner, type Runner } from '../exec/runner.js';
import { SystemFs } from '../fs/system-fs.js';

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
}

export function defaultContext(opts: { root?: string; platform?: 'linux' | 'darwin'; runner?: Runner } = {}): Context {
  return {
    runner: opts.runner ?? new ProcessRunner(),
    fs: new SystemFs(opts.root ?? '/'),
    platform: opts.platform ?? (process.platform === 'darwin' ? 'darwin' : 'linux'),
    isRoot: typeof process.geteuid === 'function' ? process.geteuid() === 0 : false,
    env: process.env,
  };
}
