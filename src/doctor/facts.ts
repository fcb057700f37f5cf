import type { Context } from '../core/context.js';
import { listAddresses, routesMatching, type LinkAddress, type RouteEntry } from '../platform/linux/ip.js';
import { probeEngine, type EngineProbe } from './docker-engine.js';
import type { Listener } from './proc-net.js';
import { readListeners, readProcessArgv } from './proc-reader.js';

/**
 * Observations several checks need, made at most once per doctor run (checks run concurrently and
 * share the same promise). Every getter is read-only.
 */
export interface DoctorFacts {
  addresses(): Promise<LinkAddress[]>;
  routesTo(ip: string): Promise<RouteEntry[]>;
  allRoutes(): Promise<RouteEntry[]>;
  listeners(): Promise<Listener[]>;
  engine(): Promise<EngineProbe>;
  dockerdArgv(): Promise<Array<{ pid: number; argv: string[] }>>;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export function createFacts(ctx: Context): DoctorFacts {
  const routes = new Map<string, Promise<RouteEntry[]>>();
  return {
    addresses: once(() => listAddresses(ctx.runner)),
    routesTo(ip) {
      let p = routes.get(ip);
      if (!p) routes.set(ip, (p = routesMatching(ctx.runner, ip)));
      return p;
    },
    allRoutes: once(async () => {
      const res = await ctx.runner.run(['ip', '-j', '-4', 'route', 'show', 'table', 'main']);
      return res.code === 0 ? (JSON.parse(res.stdout || '[]') as RouteEntry[]) : [];
    }),
    listeners: once(readListeners),
    engine: once(() => probeEngine(ctx.runner)),
    dockerdArgv: once(() => readProcessArgv('dockerd')),
  };
}
