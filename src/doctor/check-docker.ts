import { HOST_GATEWAY_SINCE } from '../docker/daemon-json.js';
import { FLAVOUR_NAMES } from '../model/engine.js';
import { parseVersion, versionAtLeast } from '../model/version.js';
import { fail, ok, warn } from '../model/finding.js';
import type { Check, Finding } from '../model/context.js';

/** `docker`: the engine answers (honouring DOCKER_HOST), its version, rootless / Desktop, bridges. */
export const dockerCheck: Check = {
  id: 'docker',
  async run(input) {
    const engine = await input.engine();
    const dockerHost = input.ctx.env['DOCKER_HOST'];
    const where = dockerHost ? `DOCKER_HOST=${dockerHost}` : 'the default socket /var/run/docker.sock';
    if (!engine.reachable) {
      if (engine.cliMissing) return [fail('docker', 'the docker CLI is not installed', 'install Docker Engine: https://docs.docker.com/engine/install/')];
      if (/permission denied/i.test(engine.error)) {
        return [
          fail('docker', `the engine at ${where} refuses this user: ${firstLine(engine.error)}`, 'sudo usermod -aG docker "$USER"   (then log in again)'),
        ];
      }
      return [fail('docker', `no Docker engine answers at ${where}: ${firstLine(engine.error)}`, await input.ctx.backend.doctor.startEngineFix(input))];
    }
    const findings: Finding[] = [];
    const mode = [
      engine.rootless ? 'rootless' : 'rootful',
      engine.flavour === 'engine' ? engine.os : `${FLAVOUR_NAMES[engine.flavour]} (${engine.flavourReason})`,
    ]
      .filter(Boolean)
      .join(', ');
    if (parseVersion(engine.serverVersion) !== null && !versionAtLeast(engine.serverVersion, HOST_GATEWAY_SINCE)) {
      findings.push(
        warn(
          'docker',
          `Engine ${engine.serverVersion} predates host-gateway (20.10): only hostalias run / hostalias flags work`,
          'upgrade Docker Engine to 20.10 or newer',
        ),
      );
    } else {
      findings.push(ok('docker', `Engine ${engine.serverVersion} (client ${engine.clientVersion}) answers at ${where}; ${mode}`));
    }
    if (engine.rootless) {
      findings.push(
        ok(
          'docker',
          'rootless engine: containers reach the host through RootlessKit, which connects from the host itself; its daemon.json is ~/.config/docker/daemon.json',
        ),
      );
    }
    if (engine.flavour === 'desktop') {
      findings.push(ok('docker', 'Docker Desktop: containers run in a VM; Desktop forwards host.docker.internal to this host'));
    }
    const bridges = engine.bridges.map((b) => `${b.iface} (${b.name}${b.subnets.length ? ` ${b.subnets.join(', ')}` : ''})`);
    findings.push(
      bridges.length > 0
        ? ok('docker', `bridges: ${bridges.join('; ')}`)
        : warn(
            'docker',
            'the engine has no bridge network: containers on the default network have nothing to reach the host through',
            'sudo systemctl restart docker   (dockerd recreates the default bridge unless "bridge": "none" is set)',
          ),
    );
    return findings;
  },
};

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? s
  );
}
