import type { DoctorPlatform } from '../../../model/context.js';
import { dockerCheck } from '../../../doctor/check-docker.js';
import { dockerDesktopCheck } from '../../../doctor/check-docker-desktop.js';
import { wslCheck } from '../wsl.js';
import { aliasCheck } from './check-alias.js';
import { daemonGatewayCheck } from './check-daemon-gateway.js';
import { dnsCheck } from './check-dns.js';
import { firewallCheck, firewallDropFix } from './check-firewall.js';
import { judgeListeners, listenersCheck } from './check-listeners.js';
import { persistenceCheck } from './check-persistence.js';
import { routeConflictCheck } from './check-route-conflict.js';
import { linuxFacts } from './facts.js';
import { startEngineFix } from './start-engine.js';
import { observeInit } from '../systemd.js';
import type { DoctorInput } from '../../../model/context.js';
import type { FixCommand } from '../../../model/invocation.js';
import { kernelExposes, managedForwards } from '../../../model/expose.js';
import { relayDownFix, v6OnlyFix } from './relay-down.js';
import { describeTargets, targetsOf, unitName } from '../../../forward/spec.js';

async function reach(input: DoctorInput) {
  return judgeListeners(await linuxFacts(input).listeners(), input.desired);
}

/** When doctor can't name the dropping rule: the root doctor's firewall findings do. */
function unknownDrop(hostalias: FixCommand): string {
  return `${hostalias('doctor', 'root')}  # the firewall findings name the rule`;
}

/** Linux's doctor: its checks, and what the shared probe asks of /proc and the packet filter. */
export const linuxDoctor: DoctorPlatform = {
  checks: [
    aliasCheck,
    persistenceCheck,
    routeConflictCheck,
    dockerCheck,
    dockerDesktopCheck,
    daemonGatewayCheck,
    dnsCheck(),
    firewallCheck,
    listenersCheck,
    wslCheck,
  ],
  async reachablePorts(input) {
    // A relayed service is probed where containers reach it: the relay's port on the alias.
    return [
      ...new Set(
        (await reach(input))
          .filter((p) => p.proto === 'tcp' && (p.reach === 'yes' || p.reach === 'exposed' || p.reach === 'relayed'))
          .map((p) => p.relay?.port ?? p.port),
      ),
    ];
  },
  async startEngineFix(input) {
    const uid = typeof process.getuid === 'function' ? process.getuid() : null;
    return startEngineFix(input.ctx.env['DOCKER_HOST'], (await observeInit(input.ctx)).systemdRunning, uid);
  },
  async explainFailure(input, port, result) {
    const { desired, hostalias } = input;
    if (result === 'refused') {
      const ports = await reach(input);
      const relayed = ports.find((p) => p.proto === 'tcp' && p.relay?.port === port);
      if (relayed?.reach === 'relay-down' && relayed.relay) {
        const down = relayDownFix(input, relayed.relay, await input.ctx.backend.serviceManager(input.ctx));
        return { message: `the relay for ${port} (${unitName(relayed.relay)}) is not running${down.why}`, fix: down.fix };
      }
      const relay = managedForwards(desired).find((f) => f.proto === 'tcp' && f.port === port);
      if (relay && !relayed)
        return {
          message: `the relay for ${port} has nothing behind it: nothing listens on ${describeTargets(targetsOf(relay))}`,
          fix: 'start the service (127.0.0.1 or ::1, either works)',
        };
      const exposed = kernelExposes(desired.exposes).find((e) => e.proto === 'tcp' && e.port === port);
      const served = exposed ? ports.find((p) => p.proto === 'tcp' && p.port === exposed.to) : undefined;
      if (exposed && !served)
        return {
          message: `${port} is exposed (kernel rules to 127.0.0.1:${exposed.to}), but nothing listens on port ${exposed.to}: the service is not running`,
          fix: `start the service on 127.0.0.1:${exposed.to} (exposed, it needs no other address)`,
        };
      if (exposed && served?.reach === 'exposed') {
        const rules = await linuxFacts(input).hostaliasRules();
        if (rules === 'needs-root')
          return {
            message: `${port} is exposed with kernel rules and the service listens on 127.0.0.1:${exposed.to}; whether the rules are loaded needs root to tell`,
            fix: hostalias(['doctor', '--probe', String(port)], 'root'),
          };
        if (rules !== null && rules.length > 0) return { message: `${port} is exposed, but its kernel rules are not loaded`, fix: hostalias('up') };
      }
      const listener = ports.find((p) => p.proto === 'tcp' && p.port === port);
      if (listener?.reach === 'family-mismatch') {
        return {
          message: `the service listens on [::1]:${port} only, and the kernel rules of \`expose\` rewrite to 127.0.0.1 (IPv6 loopback can't be reached from a container by any kernel rule)`,
          fix: v6OnlyFix(input, String(port), await input.ctx.backend.serviceManager(input.ctx), true),
        };
      }
      if (listener?.reach === 'loopback-only') {
        const v6 = listener.listeners.every((l) => l.address === '::1');
        const fix = v6 ? v6OnlyFix(input, String(port), await input.ctx.backend.serviceManager(input.ctx), false) : hostalias(`expose ${port}`);
        return { message: v6 ? `the service listens on [::1]:${port} only` : 'the service listens on loopback only', fix };
      }
      if (!listener)
        return {
          message: `nothing listens on port ${port} here`,
          // Not 0.0.0.0: that would open the service to the LAN.
          fix: `start the service; on 127.0.0.1 containers reach it once exposed (${hostalias(['expose', String(port)])}), or bind it to ${desired.ip}`,
        };
      return { message: `although something listens on ${port}: a REJECT rule?`, fix: (await firewallDropFix(input, port)) ?? unknownDrop(hostalias) };
    }
    const drop = await firewallDropFix(input, port);
    const guess = drop === null && !input.ctx.isRoot ? ' (reading the firewall needs root to tell which rule)' : '';
    const message = result === 'timeout' ? `a firewall drops container → ${desired.ip}:${port}${guess}` : 'the connection failed';
    return { message, fix: drop ?? unknownDrop(hostalias) };
  },
};
