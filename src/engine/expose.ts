import type { ExposeSpec, FirewallChoice } from '../model/config.js';
import type { Context } from '../model/context.js';
import { converge, resolveDesired, type ChangeOptions, type ChangeResult } from './converge.js';
import { mergePlans, planNote } from '../model/steps.js';
import { fixCommand, fixCommandFor } from '../model/invocation.js';
import { describeCause, HostaliasError } from '../model/errors.js';
import type { ExposeVerdict } from '../model/context.js';
import type { State } from '../model/state.js';
import { chooseExposeVia, refuseExposeConflicts, withExpose, withoutExpose, type ExposeDecision, type ExposeViaChoice } from '../model/expose.js';

type PortProto = Pick<ExposeSpec, 'port' | 'proto'>;

export interface ExposeResult extends ChangeResult {
  /** Per spec given, in order: kernel rules or a relay, and why. */
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
export async function expose(
  ctx: Context,
  specs: ExposeSpec | readonly ExposeSpec[],
  opts: ChangeOptions & { firewall?: FirewallChoice; via?: ExposeViaChoice } = {},
): Promise<ExposeResult> {
  const list = Array.isArray(specs) ? (specs as readonly ExposeSpec[]) : [specs as ExposeSpec];
  // An image build (--root) says nothing about the services the image's host will run: unknown.
  const listeners = ctx.live ? await ctx.backend.listeners(ctx) : null;
  const relays = await ctx.backend.serviceManager(ctx);
  const decisions = list.map((s) => chooseExposeVia(opts.via ?? 'auto', s, listeners, ctx.backend.unknownListenersVia, fixCommandFor(ctx), relays));
  const wanted = list.map((s, i): ExposeSpec => ({ ...s, via: (decisions[i] as ExposeDecision).via }));
  const apply = (specs: readonly ExposeSpec[]) =>
    converge(
      ctx,
      (state) => {
        const d = resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {});
        for (const w of specs) refuseExposeConflicts(d, state?.desired ?? null, w, listeners, fixCommandFor(ctx));
        return { ...d, exposes: specs.reduce(withExpose, d.exposes) };
      },
      opts,
    );
  const res = await apply(wanted);
  res.plan.notes.push(
    ...decisions.flatMap((d, i) =>
      d.notes.map((n) => planNote('expose-via', n, { port: wanted[i]?.port ?? null, proto: wanted[i]?.proto ?? null, via: d.via })),
    ),
  );
  const ip = res.state?.desired.ip;
  if (!res.applied || !ip || !ctx.backend.verifyExpose || !ctx.live || ctx.fs.isRooted) return { ...res, decisions };
  const verify = (specs: readonly ExposeSpec[]) =>
    Promise.all(specs.map((w) => (ctx.backend.verifyExpose as NonNullable<typeof ctx.backend.verifyExpose>)(ctx, ip, w)));
  // The platform checks its own path right away (macOS: does the pf redirect fire?) and may name a
  // fallback (the relay), which is applied at once, checked in turn, and said in a warning.
  const verdicts = await verify(wanted);
  const fallbacks = verdicts.flatMap((v) => (!v.ok && v.fallback ? [v.fallback] : []));
  const again = fallbacks.length > 0 ? await apply(fallbacks) : null;
  const checked = [...verdicts.map((v, i) => ({ v, spec: wanted[i] })), ...(again ? (await verify(fallbacks)).map((v, i) => ({ v, spec: fallbacks[i] })) : [])];
  const broken = checked.filter(({ v }) => !v.ok && !v.fallback).map(({ v }) => v);
  if (broken.length > 0) await undoExpose(ctx, res.previous, broken, opts);
  const at = (spec: ExposeSpec | undefined) => ({ port: spec?.port ?? null, proto: spec?.proto ?? null });
  const said = {
    steps: [],
    notes: checked.flatMap(({ v, spec }) => (v.ok ? [planNote('expose-verified', v.detail, at(spec))] : [])),
    warnings: checked.flatMap(({ v, spec }) => (v.ok ? [] : [planNote('expose-not-working', v.detail, { ...at(spec), fallback: v.fallback?.via ?? null })])),
  };
  if (!again) return { ...res, plan: mergePlans(res.plan, said), decisions };
  const moved = decisions.map((d, i) => {
    const f = fallbacks.find((x) => x.port === wanted[i]?.port && x.proto === wanted[i]?.proto);
    return f?.via ? { ...d, via: f.via, reason: `the kernel path did not work here (${d.reason}); a relay carries it` } : d;
  });
  return { ...again, previous: res.previous, plan: mergePlans(res.plan, again.plan, said), decisions: moved };
}

/**
 * An expose that can't work here (a relay that never accepts: the port held by another socket on
 * the alias, a node that doesn't start) is not left installed, exiting 0 with a warning: the
 * system goes back to the state before `expose` (nothing installed, if there was none) and the
 * command fails with the platform's reason and fix.
 */
async function undoExpose(ctx: Context, previous: State | null, broken: readonly ExposeVerdict[], opts: ChangeOptions): Promise<never> {
  let undone = 'undone: the setup is as it was before';
  try {
    await converge(ctx, () => previous?.desired ?? null, { ...opts, label: 'expose (undo)' });
  } catch (err) {
    undone = `undoing it also failed (${describeCause(err)}): run ${fixCommand(ctx, 'down')}, or expose again once it is fixed`;
  }
  throw new HostaliasError(
    'failed',
    `${broken.map((v) => v.detail).join('; ')}; ${undone}`,
    broken.map((v) => v.fix).find((f) => f !== undefined),
  );
}

/**
 * Removes exposed ports (`unexpose(ctx, 5432, 'tcp')` or a list of `{port, proto}`), their rules
 * or their relays, in one plan; a port that isn't exposed (or nothing installed) is success.
 */
export function unexpose(
  ctx: Context,
  ports: number | readonly PortProto[],
  protoOrOpts?: 'tcp' | 'udp' | ChangeOptions,
  maybeOpts: ChangeOptions = {},
): Promise<ChangeResult> {
  const list: readonly PortProto[] = typeof ports === 'number' ? [{ port: ports, proto: typeof protoOrOpts === 'string' ? protoOrOpts : 'tcp' }] : ports;
  const opts = typeof protoOrOpts === 'object' ? protoOrOpts : maybeOpts;
  return converge(
    ctx,
    (state) => (state ? { ...state.desired, exposes: list.reduce((acc, p) => withoutExpose(acc, p.port, p.proto), state.desired.exposes) } : null),
    opts,
  );
}
