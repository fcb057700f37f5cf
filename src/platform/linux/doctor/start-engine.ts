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
  if (host.startsWith('unix://')) return `sudo dockerd -H ${host}  # or unset DOCKER_HOST to use the system engine`;
  return `start the engine at DOCKER_HOST=${host}, or unset DOCKER_HOST to use the local one`;
}
