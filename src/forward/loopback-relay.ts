/**
 * The loopback relay of `expose --all`: one listening socket for every port whose service listens
 * on ::1 only. The firewall redirects connections for those ports (the relay set) to it; for each
 * one the relay asks the kernel which address and port it was bound for (SO_ORIGINAL_DST, from
 * conntrack's record of the redirect), connects to [::1]:PORT (127.0.0.1:PORT if the service has
 * moved there since), and hands the pair to the C data path like any TCP relay. A connection that
 * was not redirected from the alias (someone connecting to the relay's port directly) is reset.
 *
 * SIDE EFFECTS: opens sockets (relaying is the job); needs the native module (originalDst).
 */
import { HostaliasError } from '../model/errors.js';
import { fdOf, nativeAddon, relayDataPath } from './native-relay.js';
import type { Endpoint } from './targets.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';

export interface LoopbackRelayOptions {
  listen: Endpoint;
  /** The alias: only connections bound for it are relayed. */
  aliasIp: string;
  connectTimeoutMs?: number;
  unref?: boolean;
}

/** Where a connection redirected from ALIAS:`port` goes: ::1 first, then 127.0.0.1 (never the relay itself). Pure. */
export function loopbackRoute(port: number, listen: Endpoint): Endpoint[] {
  const v4 = listen.port === port && (listen.host === '127.0.0.1' || listen.host === '0.0.0.0') ? [] : [{ host: '127.0.0.1', port }];
  return [{ host: '::1', port }, ...v4];
}

/** Starts the loopback relay; rejects when the native module (SO_ORIGINAL_DST) isn't there, or with the listen error. */
export function startLoopbackRelay(opts: LoopbackRelayOptions): Promise<TcpRelay> {
  const addon = nativeAddon();
  if (!addon) {
    return Promise.reject(
      new HostaliasError(
        'unsupported',
        `the loopback relay of expose --all needs the C data path to learn which port a redirected connection was for, and it is not loaded here (${relayDataPath().why}): TCP services on ::1 only are not reached`,
        'make the service listen on 127.0.0.1 too, or relay its port with: hostalias expose PORT',
      ),
    );
  }
  return startTcpRelay({
    listen: opts.listen,
    targets: [],
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.unref ? { unref: true } : {}),
    route(client) {
      const dst = addon.originalDst(fdOf(client));
      if (dst === null || dst.address !== opts.aliasIp) return null;
      return loopbackRoute(dst.port, opts.listen);
    },
  });
}
