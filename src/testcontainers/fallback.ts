/**
 * The opt-in fallback: Testcontainers' own `TestContainers.exposeHostPorts` (an sshd container and
 * an SSH remote forward, TCP only). Loaded only when asked for, so `testcontainers` stays an
 * optional peer dependency that neither the CLI nor the main library ever loads.
 */
import { HostaliasError } from '../model/errors.js';
import { libraryFix } from './fix.js';
import type { WantedPort } from './ports.js';

interface TestContainersModule {
  TestContainers: { exposeHostPorts(...ports: number[]): Promise<void> };
}

/** Exposes the TCP ports through Testcontainers; UDP asked for by name is refused (its tunnel is TCP only). */
export async function exposeThroughTestcontainers(wanted: readonly WantedPort[]): Promise<number[]> {
  const udp = wanted.filter((w) => w.proto === 'udp' && !w.implicit);
  if (udp.length > 0) {
    throw new HostaliasError(
      'unsupported',
      `Testcontainers' exposeHostPorts tunnels TCP only; ${udp.map((w) => `${w.port}/udp`).join(', ')} can't go through it`,
      `${libraryFix('up')}   (then UDP is relayed too)`,
    );
  }
  let mod: TestContainersModule;
  try {
    mod = (await import('testcontainers')) as unknown as TestContainersModule;
  } catch (err) {
    throw new HostaliasError(
      'unsupported',
      `the fallback to Testcontainers' exposeHostPorts needs the testcontainers package (${(err as Error).message})`,
      'npm install --save-dev testcontainers',
      { cause: err },
    );
  }
  const tcp = wanted.filter((w) => w.proto === 'tcp').map((w) => w.port);
  if (tcp.length > 0) await mod.TestContainers.exposeHostPorts(...tcp);
  return tcp;
}
