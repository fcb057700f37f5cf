import { networkInterfaces } from 'node:os';
import { dockerEngineApi } from '../docker/engine-api.js';
import type { InterfaceAddress, NativeProbes } from '../model/context.js';

/** Addresses from getifaddrs (os.networkInterfaces: this process's network namespace). Read-only. */
function interfaceAddresses(): InterfaceAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addrs]) =>
    (addrs ?? []).map((a) => ({
      name,
      family: a.family === 'IPv4' ? ('inet' as const) : ('inet6' as const),
      address: a.address,
      prefixlen: Number(a.cidr?.split('/')[1] ?? -1),
    })),
  );
}

/** The live system's in-process probes, for the real runner (engine/context.ts). */
export function nativeProbes(env: Readonly<Record<string, string | undefined>>): NativeProbes {
  return { addresses: interfaceAddresses, engine: () => dockerEngineApi(env) };
}
