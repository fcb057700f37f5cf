/**
 * Host ports for Testcontainers tests without the SSH tunnel: once `hostalias up` has
 * put the alias on lo, each exposed port is an in-process relay (src/forward) on ALIAS:PORT to
 * the host's 127.0.0.1:PORT or [::1]:PORT, whichever answers. Binding an address that is already
 * on lo needs no root for ports >= 1024.
 *
 * SIDE EFFECTS: opens sockets in this process (the relays); reads hostalias's state file. Spawns
 * nothing. The relays are unref'd, so they never keep a test process alive, and the kernel closes
 * them when the process ends however it ends.
 */
import net from 'node:net';
import { aliasOnLoopback } from '../model/address.js';
import { defaultDesired } from '../model/config.js';
import { interfaceAddresses } from '../engine/interfaces.js';
import { HostaliasError } from '../model/errors.js';
import { loadState } from '../engine/state-store.js';
import { SystemFs } from '../fs/system-fs.js';
import { listenError } from '../forward/forwarder.js';
import { parseTargets } from '../forward/spec.js';
import type { Endpoint } from '../forward/targets.js';
import { startTcpRelay, type TcpRelay } from '../forward/tcp-relay.js';
import { startUdpRelay, type UdpRelay } from '../forward/udp-relay.js';
import { exposeThroughTestcontainers } from './fallback.js';
import { libraryFix } from './fix.js';
import { wantedPorts, type HostPortSpec, type WantedPort } from './ports.js';

/** The name Testcontainers gives the host, kept so existing test code keeps its URLs. */
export const TESTCONTAINERS_HOST_NAME = 'host.testcontainers.internal';

/** What Testcontainers' `withExtraHosts` takes. */
export interface ExtraHost {
  host: string;
  ipAddress: string;
}

export interface ExposedPort {
  port: number;
  proto: 'tcp' | 'udp';
  /**
   * relay: ours, on ALIAS:PORT. direct: something on this host already listens on ALIAS:PORT
   * (usually the server itself, on 0.0.0.0 or ::), so containers reach it without a relay.
   * testcontainers: through Testcontainers' SSH tunnel (the fallback).
   */
  via: 'relay' | 'direct' | 'testcontainers';
}

export interface HostPortsOptions {
  /**
   * What to do when the alias is not on lo: 'error' (default) fails at once with the fix;
   * 'testcontainers' uses Testcontainers' own exposeHostPorts (TCP only, needs the package).
   */
  fallback?: 'error' | 'testcontainers';
  /** The folder hostalias's files live under, as the CLI's --files-root (its state names the alias and the names). Default '/'. */
  filesRoot?: string;
  /** How long close() lets live connections finish before resetting them. Default 1000 ms. */
  graceMs?: number;
}

export interface HostPorts extends AsyncDisposable {
  /** 'hostalias' (relays on the alias) or 'testcontainers' (the fallback). */
  readonly mode: 'hostalias' | 'testcontainers';
  /** The address containers reach the host at (the alias); null in the fallback, where Testcontainers wires it. */
  readonly ip: string | null;
  /** The names containers can use: the recorded ones and host.testcontainers.internal. */
  readonly names: readonly string[];
  /**
   * Pass to `container.withExtraHosts(...)`. Empty in the fallback: Testcontainers then adds
   * host.testcontainers.internal to every container it starts itself.
   */
  readonly extraHosts: ExtraHost[];
  readonly ports: readonly ExposedPort[];
  /** Exposes more ports; works after containers started (their names already point at the alias). */
  expose(...ports: HostPortSpec[]): Promise<void>;
  /** Closes every relay (the ports are free again). Idempotent. */
  close(): Promise<void>;
}

interface Target {
  ip: string;
  names: string[];
  configured: boolean;
}

async function loadTarget(filesRoot: string): Promise<Target> {
  const state = await loadState(new SystemFs(filesRoot), libraryFix);
  const desired = state?.desired ?? defaultDesired();
  return { ip: desired.ip, names: [...desired.names], configured: state !== null };
}

/** The alias is on the loopback now (getifaddrs: reads the kernel's list, spawns nothing). */
function isLocalAddress(ip: string): boolean {
  return aliasOnLoopback(interfaceAddresses(), ip);
}

function notPresent(target: Target): HostaliasError {
  const why = target.configured
    ? `the alias ${target.ip} is not on lo (hostalias was set up, then taken down or lost at a reboot)`
    : `hostalias is not set up on this machine (no alias ${target.ip} on lo)`;
  const ipFlag = target.ip !== defaultDesired().ip ? ['--ip', target.ip] : [];
  return new HostaliasError(
    'not-present',
    `exposing host ports to containers: ${why}, so containers can't reach this host through it`,
    `${libraryFix(['up', ...ipFlag])}   (once per machine, or one CI set-up step); or openHostPorts({ fallback: 'testcontainers' }) to use Testcontainers' own tunnel`,
  );
}

/** Does a TCP connection to ip:port succeed within a second? (Someone else serves it.) */
function answers(ep: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ep.host, port: ep.port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

type Relay = TcpRelay | UdpRelay;

async function relayPort(ip: string, w: WantedPort): Promise<{ relay: Relay | null; via: 'relay' | 'direct' }> {
  const listen = { host: ip, port: w.port };
  // No --to: the loopback pair, sticky — the rule `forward PORT` follows too.
  const { targets, order } = parseTargets(w.port, []);
  try {
    const relay =
      w.proto === 'tcp'
        ? await startTcpRelay({ listen, targets, order, connectTimeoutMs: 2000, unref: true })
        : await startUdpRelay({ listen, targets, order, unref: true });
    return { relay, via: 'relay' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      // A server bound to 0.0.0.0/:: holds ALIAS:PORT too and containers already reach it.
      if (w.proto === 'tcp' ? await answers(listen) : w.implicit) return { relay: null, via: 'direct' };
    }
    throw listenError(err, listen, w.proto, libraryFix);
  }
}

function closedError(): HostaliasError {
  return new HostaliasError('usage', 'exposing host ports on a handle that was closed', 'open a new one: exposeHostPorts(...) or openHostPorts()');
}

function extraHostsFor(ip: string, names: readonly string[]): ExtraHost[] {
  return names.map((host) => ({ host, ipAddress: ip }));
}

/**
 * Opens a handle with no ports yet; `expose(...)` adds them. Fails within milliseconds, with the
 * fix, when the alias is not on lo (or falls back to Testcontainers when asked to).
 */
export async function openHostPorts(options: HostPortsOptions = {}): Promise<HostPorts> {
  const target = await loadTarget(options.filesRoot ?? '/');
  const graceMs = options.graceMs ?? 1000;
  const ports: ExposedPort[] = [];
  let closed = false;

  if (!isLocalAddress(target.ip)) {
    if (options.fallback !== 'testcontainers') throw notPresent(target);
    const handle: HostPorts = {
      mode: 'testcontainers',
      ip: null,
      names: [TESTCONTAINERS_HOST_NAME],
      extraHosts: [],
      ports,
      async expose(...specs) {
        if (closed) throw closedError();
        for (const port of await exposeThroughTestcontainers(wantedPorts(specs))) {
          if (!ports.some((p) => p.port === port)) ports.push({ port, proto: 'tcp', via: 'testcontainers' });
        }
      },
      // Testcontainers keeps its tunnel for the session and its reaper removes the sshd container.
      close: async () => void (closed = true),
      [Symbol.asyncDispose]: () => handle.close(),
    };
    return handle;
  }

  const names = [...new Set([...target.names, TESTCONTAINERS_HOST_NAME])];
  const relays: Relay[] = [];
  const close = async (): Promise<void> => {
    closed = true;
    const all = relays.splice(0);
    ports.splice(0);
    await Promise.all(all.map((r) => r.close(graceMs)));
  };
  const handle: HostPorts = {
    mode: 'hostalias',
    ip: target.ip,
    names,
    extraHosts: extraHostsFor(target.ip, names),
    ports,
    async expose(...specs) {
      if (closed) throw closedError();
      const opened: Relay[] = [];
      const before = ports.length;
      try {
        for (const w of wantedPorts(specs)) {
          if (ports.some((p) => p.port === w.port && p.proto === w.proto)) continue;
          // The alias may have gone since the handle was opened: say so, not "cannot assign address".
          if (!isLocalAddress(target.ip)) throw notPresent(target);
          const { relay, via } = await relayPort(target.ip, w);
          if (relay) opened.push(relay);
          ports.push({ port: w.port, proto: w.proto, via });
        }
      } catch (err) {
        // All or nothing: a failed call leaves no half-exposed ports behind.
        await Promise.all(opened.map((r) => r.close(0)));
        ports.splice(before);
        throw err;
      }
      relays.push(...opened);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return handle;
}

/**
 * Testcontainers' call shape: `await using host = await exposeHostPorts(8080, '5353/udp')`, then
 * `container.withExtraHosts(host.extraHosts)`. A bare number relays TCP and UDP.
 */
export async function exposeHostPorts(...ports: HostPortSpec[]): Promise<HostPorts> {
  const handle = await openHostPorts();
  try {
    await handle.expose(...ports);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}
