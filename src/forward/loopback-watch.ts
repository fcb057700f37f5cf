/**
 * Keeps the firewall's sets for `expose --all` current (model/expose.ts loopbackSets): which
 * TCP ports listen on ::1 only (the loopback relay carries them) and which sockets sit on the alias
 * itself (left alone). The kernel tells no one when a socket starts listening, so what listens is
 * asked every `intervalMs` (250 ms: a server is reachable well within a second of its listen());
 * on Linux the native module asks sock_diag for listeners only, which stays cheap however many
 * connections are open. A change is applied at once; the whole sets are applied again every
 * `resyncMs` all the same, because reloading the firewall's table (an `up`, an `expose`) empties
 * them. A failed apply is retried on the next poll.
 *
 * SIDE EFFECTS: none of its own: `list` reads and `apply` writes are the caller's.
 */
import { loopbackSets, type LoopbackSets, type PortListener } from '../model/expose.js';

export interface LoopbackWatchOptions {
  /** What listens now in this network namespace. */
  list(): Promise<readonly PortListener[]> | readonly PortListener[];
  /** Makes the firewall's sets hold `sets` (replacing what they held). */
  apply(sets: LoopbackSets): Promise<void>;
  ip: string;
  keptOut: readonly number[];
  relayPort: number;
  /** Told each time the sets change (or an apply fails), for the service's log. */
  report?(event: { sets: LoopbackSets; error?: Error }): void;
  intervalMs?: number;
  resyncMs?: number;
}

export interface LoopbackWatch {
  /** The sets last applied (empty until the first apply). */
  current(): LoopbackSets;
  /** New ports kept out (a reload of the service's configuration); applied at the next poll. */
  update(keptOut: readonly number[]): void;
  /** Polls now and resolves once what it found is applied (tests, and the service's start). */
  poll(): Promise<void>;
  close(): void;
}

const same = (a: LoopbackSets, b: LoopbackSets) => JSON.stringify(a) === JSON.stringify(b);

export function watchLoopback(opts: LoopbackWatchOptions): LoopbackWatch {
  let keptOut = [...opts.keptOut];
  let applied: LoopbackSets | null = null;
  let lastApply = 0;
  let running: Promise<void> | null = null;
  let closed = false;
  const resyncMs = opts.resyncMs ?? 5000;

  const tick = async (): Promise<void> => {
    const sets = loopbackSets(await opts.list(), opts.ip, keptOut, opts.relayPort);
    const changed = applied === null || !same(applied, sets);
    if (!changed && Date.now() - lastApply < resyncMs) return;
    try {
      await opts.apply(sets);
      if (changed) opts.report?.({ sets });
      applied = sets;
      lastApply = Date.now();
    } catch (err) {
      applied = null;
      opts.report?.({ sets, error: err as Error });
    }
  };
  const poll = (): Promise<void> => {
    running ??= tick().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (!closed) void poll();
  }, opts.intervalMs ?? 250);

  return {
    current: () => applied ?? { relayed: [], direct: [] },
    update(next) {
      keptOut = [...next];
    },
    poll,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
