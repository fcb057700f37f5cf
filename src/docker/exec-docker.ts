import { runInherited } from '../exec/inherit.js';

/**
 * Runs `docker ARGS…` (or `podman ARGS…`) in the foreground (stdio and environment inherited:
 * DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, a TTY for `-it`) and resolves with its exit status;
 * signals sent to hostalias reach the CLI, which proxies them to the container (--sig-proxy).
 */
export function execDocker(args: readonly string[], cli: 'docker' | 'podman' = 'docker'): Promise<number> {
  return runInherited([cli, ...args], {
    installFix: `install it (Debian: sudo apt-get install ${cli === 'docker' ? 'docker.io' : 'podman'}) or add it to PATH`,
  });
}
