import { defaultDesired } from '../model/config.js';
import type { Context } from '../model/context.js';
import { loadState } from '../model/state.js';
import { describeCause } from '../model/errors.js';
import type { HostTarget } from './add-hosts.js';

export interface LoadedTarget {
  target: HostTarget;
  /** hostalias has a recorded setup. */
  configured: boolean;
  /** Set when the names would lead nowhere right now; names the fix. */
  warning: string | null;
}

/**
 * The alias and names recorded by `up` (the defaults when there is no setup), and whether the
 * alias is on lo right now. Read-only; needs no root.
 */
export async function loadHostTarget(ctx: Context): Promise<LoadedTarget> {
  const state = await loadState(ctx.fs);
  const desired = state?.desired ?? defaultDesired();
  const target = { ip: desired.ip, names: desired.names };
  let present: boolean | null;
  try {
    present = await ctx.backend.aliasPresent(ctx, target.ip);
  } catch (err) {
    return { target, configured: state !== null, warning: `can't check whether ${target.ip} is on lo (${describeCause(err)}); check with: hostalias status` };
  }
  const setup = state === null ? 'hostalias is not set up, so these are the default names and address' : `the alias ${target.ip} is not on lo`;
  const warning = present ? null : `${setup}; containers can't reach this host through them until you run: sudo hostalias up${target.ip !== defaultDesired().ip ? ` --ip ${target.ip}` : ''}`;
  return { target, configured: state !== null, warning };
}
