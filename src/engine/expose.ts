import type { ExposeSpec, FirewallChoice } from '../model/config.js';
import type { Context } from '../model/context.js';
import { converge, resolveDesired, type ChangeOptions, type ChangeResult } from './converge.js';
import { withExpose, withoutExpose } from '../model/expose.js';

type PortProto = Pick<ExposeSpec, 'port' | 'proto'>;

/**
 * Makes ALIAS:PORT reach 127.0.0.1:TO (kernel DNAT) for every spec given, in one plan and one
 * apply: all of them or none. Brings the alias up with the stored configuration if needed.
 * Needs root unless dry-run; idempotent.
 */
export function expose(ctx: Context, specs: ExposeSpec | readonly ExposeSpec[], opts: ChangeOptions & { firewall?: FirewallChoice } = {}): Promise<ChangeResult> {
  const list = Array.isArray(specs) ? (specs as readonly ExposeSpec[]) : [specs as ExposeSpec];
  return converge(ctx, (state) => {
    const d = resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {});
    return { ...d, exposes: list.reduce(withExpose, d.exposes) };
  }, opts);
}

/**
 * Removes exposed ports (`unexpose(ctx, 5432, 'tcp')` or a list of `{port, proto}`), in one plan;
 * a port that isn't exposed (or nothing installed) is success.
 */
export function unexpose(ctx: Context, ports: number | readonly PortProto[], protoOrOpts?: 'tcp' | 'udp' | ChangeOptions, maybeOpts: ChangeOptions = {}): Promise<ChangeResult> {
  const list: readonly PortProto[] = typeof ports === 'number' ? [{ port: ports, proto: typeof protoOrOpts === 'string' ? protoOrOpts : 'tcp' }] : ports;
  const opts = typeof protoOrOpts === 'object' ? protoOrOpts : maybeOpts;
  return converge(ctx, (state) => (state ? { ...state.desired, exposes: list.reduce((acc, p) => withoutExpose(acc, p.port, p.proto), state.desired.exposes) } : null), opts);
}
