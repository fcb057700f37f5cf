import { defaultDesired } from '../model/config.js';
import { DEFAULT_NAMES } from '../model/address.js';
import type { Context } from '../model/context.js';
import type { State } from '../model/state.js';
import { describeCause } from '../model/errors.js';
import type { HostTarget } from './add-hosts.js';
import { fixCommand } from '../model/invocation.js';
import { ownHostDockerInternal, probeEngineFacts } from './engine.js';

export interface LoadedTarget {
  target: HostTarget;
  /** Why a name was left out (the engine provides host.docker.internal itself); null otherwise. */
  note: string | null;
  /** hostalias has a recorded setup. */
  configured: boolean;
  /** Set when the names would lead nowhere right now; names the fix. */
  warning: string | null;
  /** The files the engine's part of the answer rests on ([] when the engine wasn't asked); null when none stands for it. */
  engineBasis: string[] | null;
}

const HOST_DOCKER_INTERNAL = 'host.docker.internal';

/** `names` are hostalias's defaults, never chosen with --names. Pure. */
function defaultNames(names: readonly string[]): boolean {
  return names.join(',') === DEFAULT_NAMES.join(',');
}

/**
 * The names to inject for the engine that answers: with the default names, host.docker.internal
 * is left to the engines that already give it a meaning containers rely on (it reaches the host's
 * 127.0.0.1-only services: Docker Desktop, OrbStack, the Lima-based Colima, Lima and Rancher
 * Desktop, Podman machine; see ownHostDockerInternal); naming it explicitly with --names overrides that.
 * Asks the engine (bounded) only when the question arises. `engineBasis`: the files that part of
 * the answer rests on ([] when the engine wasn't asked), null when none stands for it
 * (probeEngineFacts). Read-only.
 */
export async function namesForEngine(ctx: Context, names: readonly string[]): Promise<{ names: string[]; note: string | null; engineBasis: string[] | null }> {
  if (!defaultNames(names)) return { names: [...names], note: null, engineBasis: [] };
  // A probe that fails keeps every name: it must never take one away by accident.
  const basis: { files: string[] | null } = { files: null };
  const engine = await probeEngineFacts(ctx, basis).catch((err: unknown) => ({
    reachable: false as const,
    cliMissing: false,
    error: describeCause(err),
    installed: null,
  }));
  const own = engine.reachable ? ownHostDockerInternal(engine.flavour, ctx.backend.platform) : null;
  const engineBasis = basis.files;
  if (!engine.reachable || own === null) return { names: [...names], note: null, engineBasis };
  return {
    engineBasis,
    names: names.filter((n) => n !== HOST_DOCKER_INTERNAL),
    // A list in another order than the defaults counts as chosen, so this keeps the name.
    note: `host.docker.internal is left as it is: ${own} (${engine.flavourReason}); to point it at the alias anyway: ${fixCommand(ctx, ['up', '--names', [HOST_DOCKER_INTERNAL, ...names.filter((n) => n !== HOST_DOCKER_INTERNAL)].join(',')])}`,
  };
}

/**
 * The alias and names `state` records (the defaults when there is no setup), and whether the
 * alias is on lo right now. Read-only; needs no root. engine/inputs.ts loadHostTarget reads the state.
 */
export async function hostTargetFor(ctx: Context, state: State | null): Promise<LoadedTarget> {
  const desired = state?.desired ?? defaultDesired();
  // The engine (bounded) and the alias are independent questions: ask them at once.
  const [{ names, note, engineBasis }, present] = await Promise.all([
    namesForEngine(ctx, desired.names),
    ctx.backend.aliasPresent(ctx, desired.ip).catch((err: unknown) => new Error(describeCause(err))),
  ]);
  const target = { ip: desired.ip, names };
  if (present instanceof Error) {
    return {
      target,
      note,
      engineBasis,
      configured: state !== null,
      warning: `can't check whether ${target.ip} is on lo (${present.message}); check with: ${fixCommand(ctx, 'status', 'user')}`,
    };
  }
  const setup = state === null ? 'hostalias is not set up, so these are the default names and address' : `the alias ${target.ip} is not on lo`;
  const warning = present
    ? null
    : `${setup}; containers can't reach this host through them until you run: ${fixCommand(ctx, ['up', ...(target.ip !== defaultDesired().ip ? ['--ip', target.ip] : [])])}`;
  return { target, note, engineBasis, configured: state !== null, warning };
}
