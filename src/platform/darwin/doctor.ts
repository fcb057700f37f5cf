import { dockerCheck } from '../../doctor/check-docker.js';
import { dockerDesktopCheck } from '../../doctor/check-docker-desktop.js';
import type { DoctorPlatform } from '../../model/backend.js';
import { fail, ok, warn, type Check } from '../../model/finding.js';
import { listLo0 } from './ifconfig.js';

/** `alias`: the alias is on lo0 as a /32 and is the address the state records. */
export const macAliasCheck: Check = {
  id: 'alias',
  async run({ ctx, desired, state, hostalias }) {
    const ip = desired.ip;
    const onLo0 = (await listLo0(ctx.runner)).find((a) => a.family === 'inet' && a.local === ip);
    const up = hostalias('up');
    if (!onLo0) {
      const why = state ? 'hostalias set it up, but it is gone (removed by hand, or a reboot without persistence?)' : 'hostalias is not set up on this Mac';
      return [fail('alias', `${ip} is not on lo0: ${why}`, up)];
    }
    if (onLo0.prefixlen !== 32) {
      return [fail('alias', `${ip} is on lo0 as /${onLo0.prefixlen}, not the /32 hostalias manages`, `sudo ifconfig lo0 -alias ${ip} && ${up}`)];
    }
    if (!state) return [warn('alias', `${ip}/32 is on lo0 but hostalias has no record of it (no state file)`, up)];
    return [ok('alias', `${ip}/32 is on lo0, as recorded`)];
  },
};

/** macOS's doctor: no /proc and no Linux packet filter, so the probe explains only what it saw. */
export const darwinDoctor: DoctorPlatform = {
  checks: [macAliasCheck, dockerCheck, dockerDesktopCheck],
  startEngineFix(dockerHost) {
    // macOS has no system dockerd: the engine is a VM that its app or CLI starts.
    const host = dockerHost?.trim() ?? '';
    if (host.includes('colima')) return 'colima start';
    if (host.includes('orbstack')) return 'open -a OrbStack';
    if (host.includes('.rd/')) return 'open -a "Rancher Desktop"';
    return 'open -a Docker   (start Docker Desktop; with Colima: colima start; with OrbStack: open -a OrbStack)';
  },
  async reachablePorts(input) {
    return input.desired.exposes.filter((e) => e.proto === 'tcp').map((e) => e.port);
  },
  async explainFailure() {
    return null;
  },
};
