import type { ExposeSpec, FirewallChoice } from '../model/config.js';
import type { Context } from '../model/context.js';
import { converge, resolveDesired, type ChangeOptions, type ChangeResult } from './converge.js';
import { withExpose, withoutExpose } from '../model/expose.js';

/**
 * Makes ALIAS:PORT reach 127.0.0.1:TO for containers (kernel DNAT), bringing the alias up with the
 * stored configuration if needed. Needs root unless dry-run; idempotent.
 */
export function expose(ctx: Context, spec: ExposeSpec, opts: ChangeOptions & { firewall?: FirewallChoice } = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => {
    const d = resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {});
    return { ...d, exposes: withExpose(d.exposes, spec) };
  }, opts);
}

/** Removes an exposed port; a port that isn't exposed (or nothing installed) is success. */
export function unexpose(ctx: Context, port: number, proto: 'tcp' | 'udp', opts: ChangeOptions = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => (state ? { ...state.desired, exposes: withoutExpose(state.desired.exposes, port, proto) } : null), opts);
}
