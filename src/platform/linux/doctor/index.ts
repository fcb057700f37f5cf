import type { DoctorPlatform } from '../../../model/backend.js';
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
import { startEngineFix, systemdRuns } from './start-engine.js';
import type { DoctorInput } from '../../../model/finding.js';

async function reach(input: DoctorInput) {
  return judgeListeners(await linuxFacts(input).listeners(), input.desired.ip, input.desired.exposes);
}

const UNKNOWN_DROP = 'sudo hostalias doctor   (the firewall findings name the rule)';

/** Linux's doctor: its checks, and what the shared probe asks of /proc and the packet filter. */
export const linuxDoctor: DoctorPlatform = {
  checks: [aliasCheck, persistenceCheck, routeConflictCheck, dockerCheck, dockerDesktopCheck, daemonGatewayCheck, firewallCheck, listenersCheck, wslCheck],
  startEngineFix(dockerHost) {
    return startEngineFix(dockerHost, systemdRuns(), typeof process.getuid === 'function' ? process.getuid() : null);
  },
  async reachablePorts(input) {
    return (await reach(input)).filter((p) => p.proto === 'tcp' && (p.reach === 'yes' || p.reach === 'exposed')).map((p) => p.port);
  },
  async explainFailure(input, port, result) {
    const { desired, hostalias } = input;
    if (result === 'refused') {
      const listener = (await reach(input)).find((p) => p.proto === 'tcp' && p.port === port);
      if (listener?.reach === 'loopback-only') return { message: 'the service listens on loopback only', fix: hostalias(`expose ${port}`) };
      if (!listener) return { message: `nothing listens on port ${port} here`, fix: `start the service so that it listens on 0.0.0.0:${port} or ${desired.ip}:${port}` };
      return { message: `although something listens on ${port}: a REJECT rule?`, fix: (await firewallDropFix(input, port)) ?? UNKNOWN_DROP };
    }
    const message = result === 'timeout' ? `a firewall drops container → ${desired.ip}:${port}` : 'the connection failed';
    return { message, fix: (await firewallDropFix(input, port)) ?? UNKNOWN_DROP };
  },
};
