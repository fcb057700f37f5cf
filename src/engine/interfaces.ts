import { networkInterfaces } from 'node:os';
import type { InterfaceAddress } from '../model/context.js';

/** Addresses from getifaddrs (os.networkInterfaces: this process's network namespace). Read-only. */
export function interfaceAddresses(): InterfaceAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addrs]) =>
    (addrs ?? []).map((a) => ({
      name,
      family: a.family === 'IPv4' ? ('inet' as const) : ('inet6' as const),
      address: a.address,
      prefixlen: Number(a.cidr?.split('/')[1] ?? -1),
    })),
  );
}
