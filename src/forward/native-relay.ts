/**
 * Loads the C data path of the TCP relay (src/native/relay.c, built by scripts/build-native.mjs
 * once per shipped arch: dist/cli/relay-linux-x64.node, relay-linux-arm64.node) and hands connected
 * socket pairs to it. It loads the file for the arch it runs on. Where that can't load (not Linux,
 * an arch the package has no build for, another libc), or HOSTALIAS_RELAY=js, the relay copies in
 * JavaScript (tcp-relay.ts's pump), with the same semantics, only slower; `relayDataPath` says
 * which and why, and `status` shows it for each installed relay.
 *
 * SIDE EFFECTS: loads a native module and starts its threads (one per usable CPU), once per
 * process (or worker thread); adopting a pair closes Node's own descriptors of the two sockets
 * (the native threads hold dups).
 */
import { createRequire } from 'node:module';
import type net from 'node:net';
import { join } from 'node:path';
import { bundleDirs } from '../exec/runtime.js';

interface Addon {
  /** Starts the relay threads (one per usable CPU unless `threads` says); returns how many. */
  start(onEnded: (group: number, toTarget: number, toClient: number, reset: boolean) => void, threads?: number): number;
  adopt(group: number, clientFd: number, targetFd: number): void;
  resetGroup(group: number): void;
  originalDst(fd: number): { address: string; port: number } | null;
  listeners(): Array<[proto: 'tcp' | 'udp', address: string, port: number]>;
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
let why = '';
const groups = new Map<number, PairEvents>();
let nextGroup = 1;

/** The addon's file name for the arch this process runs on (scripts/build-native.mjs names them alike). */
export function nativeFile(arch: string = process.arch): string {
  return `relay-linux-${arch}.node`;
}

/** Which data path relays take, and why (the file that loaded, or what kept it from loading). */
export interface DataPath {
  dataPath: 'native' | 'js';
  why: string;
}

/**
 * Loads the addon from the first of `dirs` that has it for this arch. Loading runs only its
 * registration (no thread starts until `start`). Never throws.
 */
function loadFrom(dirs: readonly string[]): { addon: Addon; file: string } | { addon: null; why: string } {
  if (process.platform !== 'linux') return { addon: null, why: 'the C data path is Linux-only' };
  if (process.env[RELAY_ENV] === 'js') return { addon: null, why: `${RELAY_ENV}=js` };
  const require = createRequire(import.meta.url);
  const name = nativeFile();
  let failure = `no ${name} (this package has builds for linux-x64 and linux-arm64)`;
  for (const file of dirs.map((d) => join(d, name))) {
    try {
      return { addon: require(file) as Addon, file };
    } catch (err) {
      // Not there: try the next place. There but unloadable (another libc): say why.
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') failure = `${file} does not load: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return { addon: null, why: failure };
}

function load(): Addon | null {
  // Next to the bundle, wherever this module runs from (bundle, installed copy, library, tests).
  const r = loadFrom(bundleDirs());
  if (r.addon === null) {
    why = r.why;
    return null;
  }
  why = r.file;
  r.addon.start((group, toTarget, toClient, reset) => groups.get(group)?.ended(toTarget, toClient, reset));
  return r.addon;
}

function loaded(): Addon | null {
  return (addon ??= load());
}

/** The data path relays use in this process, and why. */
export function relayDataPath(): DataPath {
  return { dataPath: loaded() ? 'native' : 'js', why };
}

/**
 * The data path a TCP relay started from the bundle in `dir` takes on this machine (an installed
 * copy: what its services run): the same file loaded the same way, without starting it. Reads files.
 */
export function bundleDataPath(dir: string): DataPath {
  const r = loadFrom([dir]);
  return r.addon === null ? { dataPath: 'js', why: r.why } : { dataPath: 'native', why: r.file };
}

/** The native module where it loads (its relay threads started), else null. */
export function nativeAddon(): Pick<Addon, 'originalDst' | 'listeners'> | null {
  return loaded();
}

export function fdOf(s: net.Socket): number {
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
