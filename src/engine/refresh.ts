import { followNetworkEvents } from '../docker/events.js';
import type { Context } from '../model/context.js';
import { HostaliasError } from '../model/errors.js';
import { converge, type ChangeResult } from './converge.js';

/**
 * Re-plans only the firewall with the stored configuration: picks up bridges Docker created or
 * removed since the last run (trusted set, route_localnet). A converge like any other (lock,
 * journal, rollback). Needs root unless `dryRun`. Idempotent: with nothing new it changes nothing.
 */
export function refreshFirewall(ctx: Context, opts: { dryRun?: boolean } = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => state?.desired ?? null, { ...opts, only: ['firewall'], label: 'refresh', commandLine: 'hostalias refresh' });
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
