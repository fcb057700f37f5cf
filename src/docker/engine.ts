import type { Runner } from '../exec/runner.js';

/** What hostalias knows about the Docker Engine it configures, and how it found out. */
export interface EngineInfo {
  version: string;
  /** Where the version came from, for notes and --verbose. */
  source: string;
  /** Docker Desktop runs the engine in a VM and manages daemon.json itself. */
  desktop: boolean;
  desktopReason: string | null;
}

/**
 * Asks the engine (honouring DOCKER_HOST and docker's own environment) for its version; when
 * it is unreachable, reads `dockerd --version` instead. Read-only. Null when neither answers.
 */
export async function detectEngine(runner: Runner): Promise<EngineInfo | null> {
  const server = await runner.run(['docker', 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
  const serverVersion = server.code === 0 ? server.stdout.trim() : '';
  if (serverVersion !== '') {
    const info = await runner.run(['docker', 'info', '--format', '{{.OperatingSystem}}'], { timeoutMs: 15_000 });
    const context = await runner.run(['docker', 'context', 'show'], { timeoutMs: 15_000 });
    const os = info.code === 0 ? info.stdout.trim() : '';
    const ctxName = context.code === 0 ? context.stdout.trim() : '';
    const desktopReason = /docker desktop/i.test(os) ? `docker info reports "${os}"` : /^desktop-/.test(ctxName) ? `the docker context is "${ctxName}"` : null;
    return { version: serverVersion, source: `the running engine (docker version: ${serverVersion})`, desktop: desktopReason !== null, desktopReason };
  }
  const dockerd = await runner.run(['dockerd', '--version'], { timeoutMs: 15_000 });
  const m = dockerd.code === 0 ? /version\s+v?(\d+\.\d+[^\s,]*)/i.exec(dockerd.stdout) : null;
  if (!m?.[1]) return null;
  const why = (server.stderr || server.stdout).trim().split('\n')[0] ?? 'no answer';
  return { version: m[1], source: `dockerd --version: ${m[1]} (the engine did not answer: ${why})`, desktop: false, desktopReason: null };
}
