import { inSubnet } from '../../../model/address.js';
import { LOOPBACK_RELAY, type Desired, type ExposeSpec, type ForwardSpec } from '../../../model/config.js';
import { coveredByAll, describeExpose, kernelExposes, managedForwards } from '../../../model/expose.js';
import { describeTargets, targetsOf, unitName } from '../../../forward/spec.js';
import type { Listener } from './proc-net.js';
import { readSocketOwners } from './proc-reader.js';
import { ok, warn } from '../../../model/finding.js';
import type { Check, Finding } from '../../../model/context.js';
import { relayDownFix, v6OnlyFix } from './relay-down.js';
import { linuxFacts } from './facts.js';

/**
 * - `yes`: bound to the alias or a wildcard; `exposed`: kernel rules DNAT to it (127.0.0.1);
 * - `relayed`: a hostalias relay (`expose` via relay, `forward --install`) targets it and listens;
 * - `relay-down`: such a relay targets it but nothing listens on ALIAS:PORT (its service is not running);
 * - `family-mismatch`: exposed with kernel rules, but it listens on ::1, which DNAT to 127.0.0.1 never reaches;
 * - `all-v6-only`: on ::1 only under `expose --all`, whose one rule goes to 127.0.0.1: reached through
 *   the loopback relay (hostalias-serve.service) for TCP where a service manager runs it, else refused;
 * - `loopback-only`, `other-address`: containers can't reach it.
 */
export type Reach = 'yes' | 'exposed' | 'relayed' | 'relay-down' | 'all-v6-only' | 'family-mismatch' | 'loopback-only' | 'other-address';

type Setup = Pick<Desired, 'ip' | 'exposes' | 'forwards' | 'exposeAll'> & Partial<Pick<Desired, 'dns'>>;

function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

function isLoopback(addr: string): boolean {
  const v4 = unmapped(addr);
  return addr === '::1' || inSubnet(v4, '127.0.0.0', 8);
}

function onAlias(l: Pick<Listener, 'address'>, aliasIp: string): boolean {
  return unmapped(l.address) === aliasIp || l.address === '0.0.0.0' || l.address === '::';
}

/** The relay (managed by hostalias) that sends to `l`, if any. */
function relayFor(l: Listener, relays: readonly ForwardSpec[]): ForwardSpec | undefined {
  return relays.find((f) => f.proto === l.proto && targetsOf(f).some((t) => t.port === l.port && t.host === unmapped(l.address)));
}

function kernelExposeFor(l: Listener, exposes: readonly ExposeSpec[]): ExposeSpec | undefined {
  return exposes.find((e) => e.to === l.port && e.proto === l.proto);
}

const relayKey = (f: ForwardSpec) => `${f.port}/${f.proto}`;

/** The managed relay whose own listening socket `l` is (ALIAS:PORT, or its --listen address). */
function relaySocketOf(setup: Setup, relays: readonly ForwardSpec[]): (l: Listener) => ForwardSpec | undefined {
  return (l) => relays.find((f) => f.proto === l.proto && f.port === l.port && (f.listen ? unmapped(l.address) === f.listen : onAlias(l, setup.ip)));
}

export interface RelayHealth {
  relay: ForwardSpec;
  /** Its socket on ALIAS:PORT listens. */
  up: boolean;
  /** Something listens on one of its targets. */
  served: boolean;
}

/** For each relay hostalias manages: is it listening, and is anything behind it. Pure. */
export function relayHealth(listeners: readonly Listener[], setup: Setup): RelayHealth[] {
  const relays = managedForwards(setup);
  const relayOf = relaySocketOf(setup, relays);
  return relays.map((relay) => ({
    relay,
    up: listeners.some((l) => relayOf(l) === relay),
    served: listeners.some((l) => relayOf(l) === undefined && relayFor(l, [relay]) !== undefined),
  }));
}

/** Whether a container reaches `l` via the alias; `relaysUp` ("PORT/PROTO") are the relays whose ALIAS:PORT socket listens. Pure. */
export function classifyListener(l: Listener, setup: Setup, relaysUp: ReadonlySet<string> = new Set()): Reach {
  const a = unmapped(l.address);
  if (a === '0.0.0.0' || a === '::' || a === setup.ip) return 'yes';
  const relay = relayFor(l, managedForwards(setup));
  if (relay && isLoopback(l.address)) return relaysUp.has(relayKey(relay)) ? 'relayed' : 'relay-down';
  const kernel = kernelExposeFor(l, kernelExposes(setup.exposes));
  if (!kernel && (a === '127.0.0.1' || a === '::1') && coveredByAll(setup, l.port)) {
    // One rule carries 127.0.0.1 services to 127.0.0.1; a service on ::1 needs its own relay.
    return a === '::1' ? 'all-v6-only' : 'exposed';
  }
  if (kernel) return a === '127.0.0.1' ? 'exposed' : isLoopback(l.address) ? 'family-mismatch' : 'other-address';
  return isLoopback(l.address) ? 'loopback-only' : 'other-address';
}

export interface PortReach {
  proto: 'tcp' | 'udp';
  port: number;
  reach: Reach;
  listeners: Listener[];
  /** The hostalias relay that serves this port, when one does. */
  relay?: ForwardSpec;
}

/**
 * One verdict per protocol and port: reachable when any socket on it is (a service listening on
 * 127.0.0.1 and on the alias is reachable). The sockets of hostalias's own relays on ALIAS:PORT
 * are not services: they make their targets `relayed`. Sorted by protocol, then port. Pure.
 */
export function judgeListeners(listeners: readonly Listener[], setup: Setup): PortReach[] {
  const relays = managedForwards(setup);
  const relayOf = relaySocketOf(setup, relays);
  const relaysUp = new Set(
    listeners
      .map(relayOf)
      .filter((f): f is ForwardSpec => f !== undefined)
      .map(relayKey),
  );
  const rank: Record<Reach, number> = {
    yes: 6,
    exposed: 5,
    relayed: 5,
    'relay-down': 3,
    'all-v6-only': 2,
    'family-mismatch': 2,
    'other-address': 1,
    'loopback-only': 0,
  };
  const byPort = new Map<string, PortReach>();
  for (const l of listeners) {
    if (relayOf(l) || isLoopbackRelay(l, setup)) continue;
    const key = `${l.proto}/${l.port}`;
    const reach = classifyListener(l, setup, relaysUp);
    const relay = reach === 'relayed' || reach === 'relay-down' ? relayFor(l, relays) : undefined;
    const cur = byPort.get(key);
    if (!cur) byPort.set(key, { proto: l.proto, port: l.port, reach, listeners: [l], ...(relay ? { relay } : {}) });
    else {
      cur.listeners.push(l);
      if (rank[reach] > rank[cur.reach]) Object.assign(cur, { reach, ...(relay ? { relay } : {}) });
    }
  }
  return [...byPort.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}

/** The socket of `expose --all`'s own loopback relay (hostalias serve): not a service of the loopback. Pure. */
export function isLoopbackRelay(l: Listener, setup: Setup): boolean {
  return setup.exposeAll !== undefined && l.proto === 'tcp' && l.port === LOOPBACK_RELAY.port && unmapped(l.address) === LOOPBACK_RELAY.host;
}

function where(l: Listener): string {
  return l.family === 6 ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
}

/** Kernel exposes whose target port nothing listens on, on any address. Pure. */
export function stoppedExposes(listeners: readonly Listener[], setup: Setup): ExposeSpec[] {
  return kernelExposes(setup.exposes).filter((e) => !listeners.some((l) => l.proto === e.proto && l.port === e.to));
}

/** `listeners`: every TCP and UDP listener in this network namespace and whether containers reach it via the alias. */
export const listenersCheck: Check = {
  id: 'listeners',
  async run(input) {
    const { desired, hostalias } = input;
    const facts = linuxFacts(input);
    const listeners = await facts.listeners();
    // An exposed port whose service is stopped is refused: say so, naming the port (the fix is to start it, not to rebind it).
    const stopped = stoppedExposes(listeners, desired).map((e) =>
      warn(
        'listeners',
        `${describeExpose(e)} is exposed (kernel rules to 127.0.0.1:${e.to}), but nothing listens on port ${e.to}: containers are refused at ${desired.ip}:${e.port} until the service runs again`,
        `start the service on 127.0.0.1:${e.to} (exposed, it needs no other address)`,
      ),
    );
    if (listeners.length === 0) return stopped.length > 0 ? stopped : [ok('listeners', 'no TCP or UDP listener in this network namespace')];
    const owners = await readSocketOwners(new Set(listeners.map((l) => l.inode)));
    const ports = judgeListeners(listeners, desired);
    const rules = ports.some((p) => p.reach === 'exposed') ? await facts.hostaliasRules() : null;
    const manager = await input.ctx.backend.serviceManager(input.ctx);
    const loopbackRelayUp = listeners.some((l) => isLoopbackRelay(l, desired));
    const down = (relay: ForwardSpec | undefined) => (relay ? relayDownFix(input, relay, manager) : { why: '', fix: '' });
    const idle = relayHealth(listeners, desired).flatMap(({ relay, up, served }): Finding[] => {
      const unit = unitName(relay);
      const at = `${relay.listen ?? desired.ip}:${relay.port}/${relay.proto}`;
      const to = describeTargets(targetsOf(relay));
      if (!up && !served)
        return [
          warn(
            'listeners',
            `${unit} should relay ${at} to ${to}, but it is not listening (and neither is the service)${relayDownFix(input, relay, manager).why}`,
            relayDownFix(input, relay, manager).fix,
          ),
        ];
      if (up && !served)
        return [
          warn(
            'listeners',
            `${unit} relays ${at}, but nothing listens on ${to} yet: containers are refused until the service starts`,
            `start the service (on ${to}, either works)`,
          ),
        ];
      return [];
    });
    return [
      // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch is exhaustive over Reach, which tsc checks
      ...ports.map((p): Finding => {
        const names = [...new Set(p.listeners.map((l) => owners.get(l.inode)).filter((n): n is string => n !== undefined))];
        const who = names.length > 0 ? ` (${names.join(', ')})` : '';
        const socks = p.listeners.map(where).join(', ');
        const spec = p.proto === 'udp' ? `${p.port}/udp` : String(p.port);
        const head = `${p.proto} ${socks}${who}`;
        const relayPort = p.relay ? `${desired.ip}:${p.relay.port}` : '';
        const unit = p.relay ? unitName(p.relay) : '';
        switch (p.reach) {
          case 'yes':
            return ok('listeners', `${head}: containers reach it at ${desired.ip}:${p.port}`);
          case 'exposed':
            if (rules === 'needs-root')
              return ok(
                'listeners',
                `${head}: exposed (kernel rules): containers reach it at ${desired.ip}:${p.port} while the rules are loaded, which needs root to tell`,
              );
            if (rules !== null && rules.length > 0)
              return warn(
                'listeners',
                `${head}: exposed, but the kernel rules that carry ${desired.ip}:${p.port} to it are not loaded: containers are refused`,
                hostalias('up'),
              );
            return ok('listeners', `${head}: exposed (kernel rules), containers reach it at ${desired.ip}:${p.port}`);
          case 'relayed':
            return ok('listeners', `${head}: relayed by ${unit}, containers reach it at ${relayPort}`);
          case 'relay-down':
            return warn(
              'listeners',
              `${head}: ${unit} should relay ${relayPort} to it, but nothing listens on ${relayPort}: the relay is not running${down(p.relay).why}`,
              down(p.relay).fix,
            );
          case 'all-v6-only':
            // TCP: the loopback relay of hostalias-serve.service carries it, where a service manager runs that unit.
            if (p.proto === 'tcp' && manager.runs && input.ctx.backend.serveService) {
              const serve = input.ctx.backend.serveService;
              return loopbackRelayUp
                ? ok(
                    'listeners',
                    `${head}: on ::1 only, carried by expose --all's loopback relay (${serve.name}): containers reach it at ${desired.ip}:${p.port}`,
                  )
                : warn(
                    'listeners',
                    `${head}: on ::1 only; expose --all's loopback relay (${serve.name}) should carry ${desired.ip}:${p.port} to it, but nothing listens on ${LOOPBACK_RELAY.host}:${LOOPBACK_RELAY.port}: the relay is not running, containers are refused`,
                    `sudo systemctl restart ${serve.name}  # its log: ${serve.logs}`,
                  );
            }
            return warn(
              'listeners',
              `${head}: on ::1 only; expose --all rewrites ${desired.ip}:${p.port} to 127.0.0.1:${p.port}, where nothing listens: containers are refused (a relay reaches ::1)`,
              // Where no service manager runs, a foreground relay can have the port only once --all leaves it alone.
              manager.runs
                ? hostalias(['expose', spec])
                : `${hostalias(['expose', '--all', '--except', [...(desired.exposeAll?.except ?? []), p.port].sort((a, b) => a - b).join(',')])}  # then run the relay in the foreground: ${hostalias(['forward', spec], 'user')}`,
            );
          case 'family-mismatch':
            return warn(
              'listeners',
              `${head}: exposed with kernel rules, which reach 127.0.0.1:${p.port} only, and the service listens on ::1: containers are refused`,
              v6OnlyFix(input, spec, manager, true),
            );
          case 'loopback-only':
            return warn(
              'listeners',
              `${head}: loopback-only, containers can't reach it at ${desired.ip}:${p.port} (expose picks kernel rules for 127.0.0.1, a relay for ::1)`,
              p.listeners.every((l) => l.address === '::1') ? v6OnlyFix(input, spec, manager, false) : hostalias(`expose ${spec}`),
            );
          case 'other-address':
            return warn(
              'listeners',
              `${head}: bound to a specific address, not reachable at ${desired.ip}:${p.port}`,
              hostalias(
                ['forward', spec, '--to', `${p.listeners[0]?.family === 6 ? `[${p.listeners[0]?.address}]` : p.listeners[0]?.address}:${p.port}`],
                'user',
              ),
            );
        }
      }),
      ...idle,
      ...stopped,
    ];
  },
};
