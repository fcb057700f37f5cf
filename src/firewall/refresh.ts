import { applySteps } from '../core/apply.js';
import type { Context } from '../core/context.js';
import { withLock } from '../core/lock.js';
import type { ChangeResult } from '../core/ops.js';
import { loadState } from '../core/state.js';
import { HostaliasError } from '../errors.js';
import { followNetworkEvents } from './docker-events.js';
import { firewallPart } from './part.js';

/**
 * Re-plans only the firewall part with the stored configuration: picks up bridges Docker
 * created or removed since the last run (trusted set, route_localnet). Needs root unless
 * `dryRun`. Idempotent: with nothing new it changes nothing.
 */
export async function refreshFirewall(ctx: Context, opts: { dryRun?: boolean } = {}): Promise<ChangeResult> {
  const run = async (): Promise<ChangeResult> => {
    const state = await loadState(ctx.fs);
    const plan = await firewallPart.plan(ctx, { desired: state?.desired ?? null, persistence: state?.persistence ?? null, state });
    if (opts.dryRun) return { plan, applied: false, skipped: [], state, previous: state, persistence: null };
    const result = await applySteps(ctx, plan.steps, 'refresh');
    return { plan, applied: true, skipped: result.skipped, state, previous: state, persistence: null };
  };
  if (opts.dryRun) return run();
  if (!ctx.isRoot) throw new HostaliasError('permission', 'changing firewall rules needs root', 'sudo hostalias refresh');
  return withLock(ctx.fs, run);
}

/**
 * Refreshes now and again after each Docker network create/destroy (debounced, one at a time),
 * until `signal` aborts or Docker's event stream ends (then it throws, so a service manager
 * restarts it). `report` receives each refresh's result or error.
 */
export async function watchDockerNetworks(ctx: Context, report: (r: ChangeResult | Error) => void, signal: AbortSignal): Promise<void> {
  let running = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const refresh = () => {
    running = running.then(async () => {
      try {
        report(await refreshFirewall(ctx));
      } catch (err) {
        report(err instanceof Error ? err : new Error(String(err)));
      }
    });
  };
  const stream = followNetworkEvents(() => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 100);
  });
  const stop = () => stream.stop();
  signal.addEventListener('abort', stop, { once: true });
  refresh();
  const end = await stream.done;
  clearTimeout(timer);
  await running;
  signal.removeEventListener('abort', stop);
  if (!signal.aborted) {
    throw new HostaliasError('failed', `docker events ended (status ${end.code}): ${end.stderr.trim() || 'Docker stopped'}`, 'start Docker; systemd restarts hostalias-bridges.service');
  }
}
