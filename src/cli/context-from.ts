import { defaultContext } from '../engine/context.js';
import type { Context } from '../model/context.js';
import { rootsFrom, type CommonOptions } from './io.js';

/**
 * The context a command runs with, from its common options. Its own module, apart from io.ts:
 * it loads every platform backend, which a command that runs for long without one (a relay)
 * should not pay for.
 */
export function contextFrom(opts: CommonOptions): Context {
  return defaultContext({ ...rootsFrom(opts), ...(opts.platform ? { platform: opts.platform } : {}) });
}
