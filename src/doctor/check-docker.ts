import { existsSync } from 'node:fs';
import { FLAVOUR_NAMES } from '../model/engine.js';
import { fail, ok, warn, type Check, type Finding } from '../model/finding.js';

const DEFAULT_SOCKET = 'unix:///var/run/docker.sock';

/**
 * The command that starts the engine DOCKER_HOST names. Pure. The system engine is started by its
 * service manager; a rootless one by the user's systemd; another unix socket by a dockerd on it.
 */
export function startEngineFix(dockerHost: string | undefined, systemd: boolean, uid: number | null): string {
  const host = dockerHost?.trim() ?? '';
  const systemEngine = host === '' || host === DEFAULT_SOCKET || host === 'unix:///run/docker.sock';
  if (systemEngine) return systemd ? 'sudo systemctl start docker' : 'sudo service docker start';
  if (/^unix:\/\/\/run\/user\/\d+\/docker\.sock$/.test(host) || (uid !== null && host === `unix:///run/user/${uid}/docker.sock`)) {
    return 'systemctl --user start docker';
  }
  if (host.startsWith('unix://')) return `sudo dockerd -H ${host}   (or unset DOCKER_HOST to use the system engine)`;
  return `start the engine at DOCKER_HOST=${host}, or unset DOCKER_HOST to use the local one`;
}

/** systemd is the running service manager. A live fact of this machine, so never read under --root. */
function systemdRuns(): boolean {
  return existsSync('/run/systemd/system');
}

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
        return [fail('docker', `the engine at ${where} refuses this user: ${firstLine(engine.error)}`, 'sudo usermod -aG docker "$USER"   (then log in again)')];
      }
      const uid = typeof process.getuid === 'function' ? process.getuid() : null;
      return [fail('docker', `no Docker engine answers at ${where}: ${firstLine(engine.error)}`, startEngineFix(dockerHost, systemdRuns(), uid))];
    }
    const findings: Finding[] = [];
    const mode = [engine.rootless ? 'rootless' : 'rootful', engine.flavour === 'engine' ? engine.os : `${FLAVOUR_NAMES[engine.flavour]} (${engine.flavourReason})`].filter(Boolean).join(', ');
    const major = Number(/^(\d+)/.exec(engine.serverVersion)?.[1] ?? 0);
    const minor = Number(/^\d+\.(\d+)/.exec(engine.serverVersion)?.[1] ?? 0);
    if (major > 0 && (major < 20 || (major === 20 && minor < 10))) {
      findings.push(warn('docker', `Engine ${engine.serverVersion} predates host-gateway (20.10): only hostalias run / hostalias flags work`, 'upgrade Docker Engine to 20.10 or newer'));
    } else {
      findings.push(ok('docker', `Engine ${engine.serverVersion} (client ${engine.clientVersion}) answers at ${where}; ${mode}`));
    }
    if (engine.rootless) {
      findings.push(ok('docker', 'rootless engine: containers reach the host through RootlessKit, which connects from the host itself; its daemon.json is ~/.config/docker/daemon.json'));
    }
    if (engine.flavour === 'desktop') {
      findings.push(ok('docker', 'Docker Desktop: containers run in a VM; Desktop forwards host.docker.internal to this host'));
    }
    const bridges = engine.bridges.map((b) => `${b.iface} (${b.name}${b.subnets.length ? ` ${b.subnets.join(', ')}` : ''})`);
    findings.push(bridges.length > 0 ? ok('docker', `bridges: ${bridges.join('; ')}`) : warn('docker', 'the engine has no bridge network: containers on the default network have nothing to reach the host through', 'sudo systemctl restart docker   (dockerd recreates the default bridge unless "bridge": "none" is set)'));
    return findings;
  },
};

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? s;
}
