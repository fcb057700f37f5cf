/**
 * `hostalias/testcontainers`: host ports for Testcontainers tests through the hostalias alias
 * instead of Testcontainers' SSH tunnel. `testcontainers` is an optional peer dependency, loaded
 * only by the opt-in fallback.
 */
export {
  exposeHostPorts,
  openHostPorts,
  TESTCONTAINERS_HOST_NAME,
  type ExposedPort,
  type ExtraHost,
  type HostPorts,
  type HostPortsOptions,
} from './host-ports.js';
export { wantedPorts, type HostPortSpec, type WantedPort } from './ports.js';
