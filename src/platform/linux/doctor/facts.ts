import type { DoctorInput } from '../../../model/context.js';
import type { RunResult } from '../../../model/runner.js';
import { once } from '../../../model/once.js';
import type { Step } from '../../../model/steps.js';
import { firewallPart } from '../firewall/part.js';
import { listAddresses, mainRoutes, routesMatching, type LinkAddress, type RouteEntry } from '../ip.js';
import type { Listener } from './proc-net.js';
import { readListeners, readProcessArgv } from './proc-reader.js';

/**
 * Observations several Linux checks need, made at most once per doctor run (checks run
 * concurrently and share the same promise). Every getter is read-only.
 */
export interface LinuxFacts {
  addresses(): Promise<LinkAddress[]>;
  routesTo(ip: string): Promise<RouteEntry[]>;
  allRoutes(): Promise<RouteEntry[]>;
  listeners(): Promise<Listener[]>;
  dockerdArgv(): Promise<Array<{ pid: number; argv: string[] }>>;
  /** `iptables -w -S`, `nft -j list ruleset`, `nft list table inet hostalias`: asked once per run. */
  iptablesRules(): Promise<RunResult>;
  nftRuleset(): Promise<RunResult>;
  nftHostaliasTable(): Promise<RunResult>;
  /**
   * What the firewall part would still do to load hostalias's rules (LAN guard, kernel exposes)
   * as `up` loads them: the steps (none: they are in place), or 'needs-root' when this user can't
   * read the rules to tell. Null when hostalias is not set up.
   */
  hostaliasRules(): Promise<Step[] | 'needs-root' | null>;
}

const perRun = new WeakMap<DoctorInput, LinuxFacts>();

/** The facts of one doctor run (one `DoctorInput`), created on first use. */
export function linuxFacts(input: DoctorInput): LinuxFacts {
  let facts = perRun.get(input);
  if (!facts) perRun.set(input, (facts = createFacts(input)));
  return facts;
}

function createFacts({ ctx, state }: DoctorInput): LinuxFacts {
  const routes = new Map<string, Promise<RouteEntry[]>>();
  return {
    addresses: once(() => listAddresses(ctx.runner)),
    routesTo(ip) {
      let p = routes.get(ip);
      if (!p) routes.set(ip, (p = routesMatching(ctx.runner, ip)));
      return p;
    },
    allRoutes: once(() => mainRoutes(ctx.runner)),
    listeners: once(readListeners),
    dockerdArgv: once(() => readProcessArgv('dockerd')),
    iptablesRules: once(() => ctx.runner.run(['iptables', '-w', '-S'])),
    nftRuleset: once(() => ctx.runner.run(['nft', '-j', 'list', 'ruleset'])),
    nftHostaliasTable: once(() => ctx.runner.run(['nft', 'list', 'table', 'inet', 'hostalias'])),
    hostaliasRules: once(async () => {
      if (!state) return null;
      // nft list and iptables-save show nothing to a user: what they miss would look like missing rules.
      if (!ctx.isRoot) return 'needs-root';
      const plan = await firewallPart.plan(ctx, { desired: state.desired, persistence: state.persistence, state });
      return plan.steps.filter((s) => !(s.kind === 'run' && s.service));
    }),
  };
}
