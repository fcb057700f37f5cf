import type { DoctorPlatform } from '../../../model/context.js';
import { dockerCheck } from '../../../doctor/check-docker.js';
import { dockerDesktopCheck } from '../../../doctor/check-docker-desktop.js';
import { wslCheck } from '../wsl.js';
import { aliasCheck } from './check-alias.js';
import { daemonGatewayCheck } from './check-daemon-gateway.js';
import { firewallCheck, firewallDropFix } from './check-firewall.js';
import { judgeListeners, listenersCheck } from './check-listeners.js';
import { persistenceCheck } from './check-persistence.js';
import { routeConflictCheck } from './check-route-conflict.js';
import { linuxFacts } from './facts.js';
import { startEngineFix } from './start-engine.js';
import { observeInit } from '../systemd.js';
import type { DoctorInput } from '../../../model/context.js';
import { managedForwards } from '../../../model/expose.js';
import { describeTargets, targetsOf, unitName } from '../../../forward/spec.js';

async function reach(input: DoctorInput) {
  return judgeListeners(await linuxFacts(input).listeners(), input.desired);
}

const UNKNOWN_DROP = 'sudo hostalias doctor   (the firewall findings name the rule)';

/** Linux's doctor: its checks, and what the shared probe asks of /proc and the packet filter. */
export const linuxDoctor: DoctorPlatform = {
  checks: [aliasCheck, persistenceCheck, routeConflictCheck, dockerCheck, dockerDesktopCheck, daemonGatewayCheck, firewallCheck, listenersCheck, wslCheck],
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
      if (relayed?.reach === 'relay-down')
        return {
          message: `the relay for ${port} (${unitName(relayed.relay ?? { port, proto: 'tcp' })}) is not running`,
          fix: `sudo systemctl restart ${unitName({ port, proto: 'tcp' })}`,
        };
      const relay = managedForwards(desired).find((f) => f.proto === 'tcp' && f.port === port);
      if (relay && !relayed)
        return {
          message: `the relay for ${port} has nothing behind it: nothing listens on ${describeTargets(targetsOf(relay))}`,
          fix: 'start the service (127.0.0.1 or ::1, either works)',
        };
      const listener = ports.find((p) => p.proto === 'tcp' && p.port === port);
      if (listener?.reach === 'family-mismatch') {
        return {
          message: `the service listens on [::1]:${port} only, and the kernel rules of \`expose\` rewrite to 127.0.0.1 (IPv6 loopback can't be reached from a container by any kernel rule)`,
          fix: hostalias(`expose ${port}`),
        };
      }
      if (listener?.reach === 'loopback-only') {
        const v6 = listener.listeners.every((l) => l.address === '::1');
        return { message: v6 ? `the service listens on [::1]:${port} only` : 'the service listens on loopback only', fix: hostalias(`expose ${port}`) };
      }
      if (!listener)
        return { message: `nothing listens on port ${port} here`, fix: `start the service so that it listens on 0.0.0.0:${port} or ${desired.ip}:${port}` };
      return { message: `although something listens on ${port}: a REJECT rule?`, fix: (await firewallDropFix(input, port)) ?? UNKNOWN_DROP };
    }
    const message = result === 'timeout' ? `a firewall drops container → ${desired.ip}:${port}` : 'the connection failed';
    return { message, fix: (await firewallDropFix(input, port)) ?? UNKNOWN_DROP };
  },
};
