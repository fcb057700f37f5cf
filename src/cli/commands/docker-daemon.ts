import type { UpFlagExtension } from './alias.js';

/** `up --docker-daemon` / `--restart-docker`; both are kept in the state like every `up` flag. */
export const dockerDaemonUpFlags: UpFlagExtension = {
  add(cmd) {
    cmd
      .option('--docker-daemon', "make Docker's host-gateway the alias for every container (daemon.json)")
      .option('--no-docker-daemon', 'put daemon.json back as it was')
      .option('--restart-docker', 'restart the Docker daemon whenever hostalias changes daemon.json (systemctl restart docker)')
      .option('--no-restart-docker', 'only tell me to restart the Docker daemon');
  },
  changes(flags) {
    const bool = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
    return { dockerDaemon: bool(flags['dockerDaemon']), restartDocker: bool(flags['restartDocker']) };
  },
};
