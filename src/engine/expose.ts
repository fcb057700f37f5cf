import type { ExposeSpec, FirewallChoice } from '../model/config.js';
import type { Context } from '../model/context.js';
import { converge, resolveDesired, type ChangeOptions, type ChangeResult } from './converge.js';
import { mergePlans, planNote } from '../model/steps.js';
import { fixCommand, fixCommandFor } from '../model/invocation.js';
import { describeCause, HostaliasError } from '../model/errors.js';
import type { ExposeVerdict } from '../model/context.js';
import type { State } from '../model/state.js';
import {
  chooseExposeVia,
  coveredByAll,
  loopbackV6Only,
  refuseExposeConflicts,
  reportExposeAll,
  withExpose,
  withExposeAll,
  withoutExpose,
  type ExposeAllReport,
  type ExposeDecision,
  type ExposeViaChoice,
  type PortListener,
} from '../model/expose.js';
import type { Desired } from '../model/config.js';

type PortProto = Pick<ExposeSpec, 'port' | 'proto'>;

export interface ExposeResult extends ChangeResult {
  /** Per spec given, in order: kernel rules or a relay, and why. */
  decisions: ExposeDecision[];
  /** Per spec given: `expose --all` already carries it, so nothing was changed for it. */
  covered: boolean[];
}

/**
 * `expose --all` already carries `spec`: the same port on the loopback, no --keep-source, not kept
 * out, not exposed one by one already, and not a service on ::1 only (the kernel rules of --all
 * reach 127.0.0.1; exposed one by one, such a port gets a relay). Pure.
 */
function coveredSpec(d: Desired, spec: ExposeSpec, listeners: readonly PortListener[] | null): boolean {
  if (!coveredByAll(d, spec.port) || spec.to !== spec.port || spec.keepSource) return false;
  if (d.exposes.some((e) => e.port === spec.port && e.proto === spec.proto)) return false;
  return !(listeners !== null && loopbackV6Only(listeners, spec.proto, spec.port));
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
  let covered: boolean[] = list.map(() => false);
  const apply = (specs: readonly ExposeSpec[]) =>
    converge(
      ctx,
      (state) => {
        const d = resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {});
        const isCovered = specs.map((w) => coveredSpec(d, w, listeners));
        // Per spec given: the fallbacks applied after verification are a different list.
        if (specs === wanted) covered = isCovered;
        const added = specs.filter((_, i) => !isCovered[i]);
        for (const w of added) refuseExposeConflicts(d, state?.desired ?? null, w, listeners, fixCommandFor(ctx));
        return { ...d, exposes: added.reduce(withExpose, d.exposes) };
      },
      opts,
    );
  const res = { ...(await apply(wanted)), covered };
  res.plan.notes.push(
    ...wanted.flatMap((w, i) =>
      covered[i]
        ? [
            planNote('expose-covered', `${w.port}/${w.proto} is already reachable through expose --all: nothing changed for it`, {
              port: w.port,
              proto: w.proto,
            }),
          ]
        : [],
    ),
  );
  res.plan.notes.push(
    ...decisions.flatMap((d, i) =>
      d.notes.map((n) => planNote('expose-via', n, { port: wanted[i]?.port ?? null, proto: wanted[i]?.proto ?? null, via: d.via })),
    ),
  );
  const ip = res.state?.desired.ip;
  if (!res.applied || !ip || !ctx.backend.verifyExpose || !ctx.live || ctx.fs.isRooted) return { ...res, decisions };
  // What --all already carries was not changed: nothing of it to check.
  const toCheck = wanted.filter((_, i) => !covered[i]);
  const verify = (specs: readonly ExposeSpec[]) =>
    Promise.all(specs.map((w) => (ctx.backend.verifyExpose as NonNullable<typeof ctx.backend.verifyExpose>)(ctx, ip, w)));
  // The platform checks its own path right away (macOS: does the pf redirect fire?) and may name a
  // fallback (the relay), which is applied at once, checked in turn, and said in a warning.
  const verdicts = await verify(toCheck);
  const fallbacks = verdicts.flatMap((v) => (!v.ok && v.fallback ? [v.fallback] : []));
  const again = fallbacks.length > 0 ? await apply(fallbacks) : null;
  const checked = [
    ...verdicts.map((v, i) => ({ v, spec: toCheck[i] })),
    ...(again ? (await verify(fallbacks)).map((v, i) => ({ v, spec: fallbacks[i] })) : []),
  ];
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
  return { ...again, covered, previous: res.previous, plan: mergePlans(res.plan, again.plan, said), decisions: moved };
}

export interface ExposeAllResult extends ChangeResult {
  /** What listens now, sorted into what containers reach and how, and what is kept out (null: not read, e.g. --root). */
  report: ExposeAllReport | null;
  /** Whether the loopback relay (hostalias serve) runs here for TCP services on ::1 only: a service manager starts it. */
  loopbackRelay: boolean;
}

/**
 * `expose --all`: every TCP and UDP port of the loopback at ALIAS:PORT for containers and the host,
 * but the ports kept out (EXPOSE_ALL_KEPT_OUT and `except`, which replaces an earlier list).
 * Services on 127.0.0.1 or a wildcard go through one kernel rule; TCP services on ::1 only through
 * the loopback relay of hostalias-serve.service (one process for every such port, which keeps the
 * firewall's set of them current); UDP on ::1 only is not reached (`expose PORT/udp` relays it).
 * Exposes made one by one keep their rules. Needs root unless dry-run; idempotent.
 */
export async function exposeAll(ctx: Context, except: readonly number[], opts: ChangeOptions & { firewall?: FirewallChoice } = {}): Promise<ExposeAllResult> {
  if (ctx.backend.platform !== 'linux')
    throw new HostaliasError(
      'unsupported',
      `expose --all is Linux-only for now (nftables rules); on ${ctx.backend.platform} pf has no rule for it yet, so nothing was changed`,
      `expose the ports one by one: ${fixCommand(ctx, ['expose', '5432', '6379', '5173'])}`,
    );
  const listeners = ctx.live ? await ctx.backend.listeners(ctx) : null;
  const res = await converge(ctx, (state) => withExposeAll(resolveDesired(state, opts.firewall ? { firewall: opts.firewall } : {}), { except: [...except] }), {
    label: 'expose',
    ...opts,
  });
  const desired = res.state?.desired;
  // The loopback relay (hostalias-serve.service) carries TCP services on ::1 only where a service manager starts it.
  const relay = listeners && desired && ctx.backend.applyLoopbackSets ? (await ctx.backend.serviceManager(ctx)).runs : false;
  return { ...res, report: listeners && desired ? reportExposeAll(desired, listeners, relay) : null, loopbackRelay: relay };
}

/** `unexpose --all`: back to the ports exposed one by one; off already is success. */
export function unexposeAll(ctx: Context, opts: ChangeOptions = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => (state ? withExposeAll(state.desired, null) : null), { label: 'unexpose', ...opts });
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
