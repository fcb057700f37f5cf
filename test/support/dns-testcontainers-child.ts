/**
 * A Testcontainers user who knows nothing of hostalias: a GenericContainer with no
 * withExtraHosts, whose command connects to host.docker.internal:PORT. Run inside the lab
 * namespace (DOCKER_HOST names the lab dockerd). Prints one JSON line: what the container read.
 *
 *   node dns-testcontainers-child.js IMAGE PORT
 */
import { GenericContainer } from 'testcontainers';

const [image, port] = process.argv.slice(2);
const c = await new GenericContainer(image ?? '').withCommand(['sh', '-c', 'trap exit TERM; while sleep 1; do :; done']).start();
try {
  const r = await c.exec(['sh', '-c', `sleep 1 | nc -w 5 host.docker.internal ${port ?? ''}`]);
  process.stdout.write(`${JSON.stringify({ exitCode: r.exitCode, output: r.output.trim() })}\n`);
} finally {
  await c.stop({ timeout: 1 });
}
