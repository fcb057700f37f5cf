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
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** Resets every pair this relay handed over. */
  resetAll(): void;
  /** Forgets this relay (after its last pair ended). */
  release(): void;
}

export const RELAY_ENV = 'HOSTALIAS_RELAY';

let addon: Addon | null | undefined;
const groups = new Map<number, PairEvents>();
let nextGroup = 1;

/** Where the addon may be: next to this module (the bundle, an installed copy), else the package's dist/cli (the library, tests), as runtime.ts finds the bundle. */
function candidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const dirs = [here];
  for (let d = here; dirname(d) !== d; d = dirname(d)) dirs.push(join(d, 'dist', 'cli'));
  return dirs.map((d) => join(d, 'relay.node'));
}

function load(): Addon | null {
  if (process.platform !== 'linux' || process.env[RELAY_ENV] === 'js') return null;
  const require = createRequire(import.meta.url);
  for (const candidate of candidates()) {
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

/** The data path relays use in this process: 'native' or 'js'. */
export function relayDataPath(): 'native' | 'js' {
  addon ??= load();
  return addon ? 'native' : 'js';
}

function fdOf(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** A handle for one relay's pairs, or null when the JavaScript path must be used. */
export function nativeRelay(events: PairEvents): NativeRelay | null {
  if (relayDataPath() === 'js' || !addon) return null;
  const native = addon;
  const group = nextGroup++;
  groups.set(group, events);
  return {
    adopt(client, target) {
      const fds = [fdOf(client), fdOf(target)] as const;
      if (fds[0] < 0 || fds[1] < 0) return false;
      try {
        native.adopt(group, fds[0], fds[1]);
      } catch {
        return false; // EMFILE on dup: this pair stays in JavaScript
      }
      // Node's descriptors close; the connections live on in the native thread's dups.
      client.destroy();
      target.destroy();
      return true;
    },
    resetAll: () => native.resetGroup(group),
    release: () => void groups.delete(group),
  };
}
