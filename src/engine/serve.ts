/**
 * The one service process, `hostalias serve` (hostalias-serve.service on Linux): `expose --all`'s
 * loopback relay and the watcher that keeps the firewall's sets current, however many ports are
 * relayed. The relay listens on LOOPBACK_RELAY; the firewall redirects there the connections for
 * TCP ports whose service listens on ::1 only (the relay set), and the relay asks the kernel which
 * port each was for (SO_ORIGINAL_DST). The watcher reads what listens every 250 ms (sock_diag
 * through the native module) and fills the relay set and the direct set (sockets on the alias
 * itself, which the rule leaves alone).
 *
 * SIDE EFFECTS: opens sockets (the relay), and through the platform updates the firewall's sets
 * (nft).
 */
import type { Context } from '../model/context.js';
import { LOOPBACK_RELAY, RELAY_DEFAULTS } from '../model/config.js';
import { HostaliasError } from '../model/errors.js';
import type { PortListener } from '../model/expose.js';
import { startLoopbackRelay } from '../forward/loopback-relay.js';
import { watchLoopback, type LoopbackWatch } from '../forward/loopback-watch.js';
import { nativeAddon } from '../forward/native-relay.js';
import type { TcpRelay } from '../forward/tcp-relay.js';

export interface ServeOptions {
  /** The alias: only connections redirected from it are relayed. */
  ip: string;
  /** Ports `expose --all` keeps out: never put in the relay set. */
  keptOut: readonly number[];
  /** Where the relay listens (LOOPBACK_RELAY; tests may move it). */
  listen?: { host: string; port: number };
}

export interface Service {
  /** The sets last applied (for the log and tests). */
  relayed(): number[];
  /** Closes the relay (live connections finish for their grace period) and stops watching. */
  close(): Promise<void>;
}

/** How long a relay that could not listen (the port taken, at boot before the network) waits before trying again. */
const RETRY_MS = 2000;

/** What listens in this namespace: sock_diag through the native module where it loads, else the platform's reader. */
async function listListeners(ctx: Context): Promise<PortListener[]> {
  const addon = nativeAddon();
  if (addon) return addon.listeners().map(([proto, address, port]) => ({ proto, address, port }));
  return (await ctx.backend.listeners(ctx)) ?? [];
}

/**
 * Starts the loopback relay and its watcher; resolves once the relay listens and the first sets
 * are applied (or their failure logged: the watcher tries again at each poll). Rejects where the
 * platform has no run-time sets or the native module (SO_ORIGINAL_DST) does not load.
 */
export async function startService(ctx: Context, opts: ServeOptions, log: (line: string) => void): Promise<Service> {
  const apply = ctx.backend.applyLoopbackSets;
  if (!apply) throw new HostaliasError('unsupported', `expose --all has no loopback relay on ${ctx.backend.platform}`);
  const listen = opts.listen ?? { host: LOOPBACK_RELAY.host, port: LOOPBACK_RELAY.port };
  let relay: TcpRelay | null = null;
  for (;;) {
    try {
      relay = await startLoopbackRelay({ listen, aliasIp: opts.ip });
      break;
    } catch (err) {
      if (err instanceof HostaliasError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'EACCES')
        throw new HostaliasError('permission', `the loopback relay can't listen on ${listen.host}:${listen.port} (a privileged port)`, 'run it as root', {
          needsRoot: true,
        });
      log(`loopback relay ${listen.host}:${listen.port}: ${(err as Error).message}; trying again in ${RETRY_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  log(`loopback relay ${listen.host}:${listen.port}: TCP services on ::1 only at ${opts.ip}:PORT, for every port but ${opts.keptOut.join(', ') || 'none'}`);
  let failing = false;
  const watch: LoopbackWatch = watchLoopback({
    list: () => listListeners(ctx),
    apply: (sets) => apply(ctx, opts.ip, sets),
    ip: opts.ip,
    keptOut: opts.keptOut,
    relayPort: listen.port,
    report: ({ sets, error }) => {
      // A failure is said once until an apply works again (the table may be reloading, or gone at down).
      if (error) {
        if (!failing) log(`loopback relay: the firewall's sets could not be updated (${error.message.split('\n')[0]}); trying again`);
        failing = true;
        return;
      }
      failing = false;
      log(`loopback relay: ::1-only ports now ${sets.relayed.length > 0 ? sets.relayed.join(', ') : 'none'}`);
    },
  });
  await watch.poll();
  return {
    relayed: () => watch.current().relayed,
    async close() {
      watch.close();
      const r = relay;
      relay = null;
      if (r) await r.close(RELAY_DEFAULTS.graceS * 1000);
    },
  };
}
