/**
 * Loads the C data path of the TCP relay (src/native/relay.c, built to dist/cli/relay.node by
 * scripts/build-native.mjs) and hands connected socket pairs to it. Where it can't load (not
 * Linux, no C compiler at build time, another libc), or HOSTALIAS_RELAY=js, the relay copies in
 * JavaScript (tcp-relay.ts's pump), with the same semantics, only slower.
 *
 * SIDE EFFECTS: loads a native module and starts its thread, once per process; adopting a pair
 * closes Node's own descriptors of the two sockets (the native thread holds dups).
 */
import { createRequire } from 'node:module';
import type net from 'node:net';
import { join } from 'node:path';
import { bundleDirs } from '../exec/runtime.js';

interface Addon {
  start(onEnded: (group: number, toTarget: number, toClient: number, reset: boolean) => void): void;
  adopt(group: number, clientFd: number, targetFd: number): void;
  resetGroup(group: number): void;
}

/** What one relay hears about its pairs. */
export interface PairEvents {
  ended(toTarget: number, toClient: number, reset: boolean): void;
}

export interface NativeRelay {
  /** Starts relaying between the two connected sockets; false if they can't be handed over (use JS). */
  adopt(client: net.Socket, target: net.Socket): boolean;
  /** Pairs handed over and not yet ended. */
  pairs(): number;
  /** Resets every pair this relay handed over. */
  resetAll(): void;
  /** Forgets this relay (after its last pair ended). */
  release(): void;
}

export const RELAY_ENV = 'HOSTALIAS_RELAY';

let addon: Addon | null | undefined;
const groups = new Map<number, PairEvents>();
let nextGroup = 1;

function load(): Addon | null {
  if (process.platform !== 'linux' || process.env[RELAY_ENV] === 'js') return null;
  const require = createRequire(import.meta.url);
  // Next to the bundle, wherever this module runs from (bundle, installed copy, library, tests).
  for (const candidate of bundleDirs().map((d) => join(d, 'relay.node'))) {
    try {
      const a = require(candidate) as Addon;
      a.start((group, toTarget, toClient, reset) => groups.get(group)?.ended(toTarget, toClient, reset));
      return a;
    } catch {
      // Not there, or built for another platform: try the next place, then fall back to JS.
    }
  }
  return null;
}

function loaded(): Addon | null {
  return (addon ??= load());
}

/** The data path relays use in this process: 'native' or 'js'. */
export function relayDataPath(): 'native' | 'js' {
  return loaded() ? 'native' : 'js';
}

function fdOf(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** A handle for one relay's pairs, or null when the JavaScript path must be used. */
export function nativeRelay(events: PairEvents): NativeRelay | null {
  const native = loaded();
  if (!native) return null;
  const group = nextGroup++;
  let pairs = 0;
  groups.set(group, {
    ended(toTarget, toClient, reset) {
      pairs--;
      events.ended(toTarget, toClient, reset);
    },
  });
  return {
    adopt(client, target) {
      const fds = [fdOf(client), fdOf(target)] as const;
      if (fds[0] < 0 || fds[1] < 0) return false;
      try {
        native.adopt(group, fds[0], fds[1]);
      } catch {
        return false; // EMFILE on dup: this pair stays in JavaScript
      }
      pairs++;
      // Node's descriptors close; the connections live on in the native thread's dups.
      client.destroy();
      target.destroy();
      return true;
    },
    pairs: () => pairs,
    resetAll: () => native.resetGroup(group),
    release: () => void groups.delete(group),
  };
}
