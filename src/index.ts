/**
 * hostalias as a library: the same operations as the CLI, which is a thin layer over them.
 * Every changing operation plans first (observe → plan), applies with rollback, and records state.
 */
export { DEFAULT_IP, DEFAULT_NAMES, parseAliasIp, parseNames, parseLabel } from './core/address.js';
export { defaultDesired, PERSIST_KINDS, type Desired, type ExposeSpec, type PersistChoice, type PersistKind } from './core/config.js';
export { defaultContext, type Context } from './core/context.js';
export { converge, down, planChange, resolveDesired, status, up, type ChangeOptions, type ChangeResult, type StatusReport } from './core/ops.js';
export { loadState, type State } from './core/state.js';
export { EXIT_CODES, HostaliasError, type ErrorCode } from './errors.js';
export { ProcessRunner, type Runner, type RunResult } from './exec/runner.js';
export { SystemFs } from './fs/system-fs.js';
export { renderPlan, type Plan, type Step } from './plan/steps.js';
export { startForwarder, type Forwarder, type ForwarderOptions, type ForwardStats } from './forward/forwarder.js';
export { startTcpRelay, type RelayStats, type TcpRelay, type TcpRelayOptions } from './forward/tcp-relay.js';
export { startUdpRelay, type UdpRelay, type UdpRelayOptions, type UdpRelayStats } from './forward/udp-relay.js';
export { addHostArgs, formatFlags, hostEntries, type FlagFormat, type HostTarget } from './docker/add-hosts.js';
export { buildRunArgv, type RunArgv } from './docker/run-argv.js';
export { planInPlace, planOverride, type ComposePlan, type ComposeSource } from './docker/compose-plan.js';
export { chooseGatewayKey, withGateway, type GatewayKey } from './docker/daemon-json.js';
export { loadHostTarget } from './docker/target.js';
export { expose, unexpose } from './firewall/expose-ops.js';
export { refreshFirewall } from './firewall/refresh.js';
export { doctorInput, runChecks, CHECKS } from './doctor/run-checks.js';
export { runProbe } from './doctor/probe.js';
export type { Finding } from './doctor/types.js';
