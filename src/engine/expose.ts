import type { ExposeSpec, FirewallChoice } from '../model/config.js';
import type { Context } from '../model/context.js';
import { converge, resolveDesired, type ChangeOptions, type ChangeResult } from './converge.js';
import { chooseExposeVia, refuseExposeConflicts, withExpose, withoutExpose, type ExposeDecision, type ExposeViaChoice } from '../model/expose.js';

type PortProto = Pick<ExposeSpec, 'port' | 'proto'>;

export interface ExposeResult extends ChangeResult {
  /** Per spec given, in order: kernel rules or a relay, and why (issue 11). */
  decisions: ExposeDecision[];
}

/**
 * Makes ALIAS:PORT reach the service on loopback port `to` for containers, for every spec given,
 * in one plan and one apply: all of them or none. Each goes through kernel DNAT to 127.0.0.1 or
 * a managed relay to 127.0.0.1 / ::1 (installed like `forward --install`), as `via` says or, with
 * `auto`, as what listens decides (chooseExposeVia). Refuses a port a user's relay already serves
 * (exit 3). Brings the alias up with the stored configuration if needed. Needs root unless
 * dry-run; idempotent.
 */
export async function expose(ctx: Context, specs: ExposeSpec | readonly ExposeSpec[], opts: ChangeOptions & { firewall?: FirewallChoice; via?: ExposeViaChoice } = {}): Promise<ExposeResult> {
  const list = Array.isArray(specs) ? (specs as readonly ExposeSpec[]) : [specs as ExposeSpec];
  // An image build (--root) says nothing about the services the image's host will run: unknown.
  const listeners = ctx.live ? await ctx.backend.listeners(ctx) : null;
  const decisions = list.map((s) => chooseExposeVia(opts.via ?? 'auto', s, listeners));
  const wanted = list.map((s, i): ExposeSpec => ({ ...s, via: (decisions[i] as ExposeDecision).via }));
  const res = await converge(ctx, (state) => {
    const d = resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {});
    for (const w of wanted) refuseExposeConflicts(d, state?.desired ?? null, w, listeners);
    return { ...d, exposes: wanted.reduce(withExpose, d.exposes) };
  }, opts);
  res.plan.notes.push(...decisions.flatMap((d) => d.notes));
  return { ...res, decisions };
}

/**
 * Removes exposed ports (`unexpose(ctx, 5432, 'tcp')` or a list of `{port, proto}`), their rules
 * or their relays, in one plan; a port that isn't exposed (or nothing installed) is success.
 */
export function unexpose(ctx: Context, ports: number | readonly PortProto[], protoOrOpts?: 'tcp' | 'udp' | ChangeOptions, maybeOpts: ChangeOptions = {}): Promise<ChangeResult> {
  const list: readonly PortProto[] = typeof ports === 'number' ? [{ port: ports, proto: typeof protoOrOpts === 'string' ? protoOrOpts : 'tcp' }] : ports;
  const opts = typeof protoOrOpts === 'object' ? protoOrOpts : maybeOpts;
  return converge(ctx, (state) => (state ? { ...state.desired, exposes: list.reduce((acc, p) => withoutExpose(acc, p.port, p.proto), state.desired.exposes) } : null), opts);
}
