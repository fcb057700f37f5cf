/**
 * hostalias as a library: the same operations as the CLI, which is a thin layer over them.
 * Every changing operation plans first (observe → plan), applies with rollback, and records state.
 */
export { DEFAULT_IP, DEFAULT_NAMES, parseAliasIp, parseNames, parseLabel } from './model/address.js';
export {
  defaultDesired,
  PERSIST_KINDS,
  type Desired,
  type ExposeSpec,
  type ExposeVia,
  type ForwardSpec,
  type PersistChoice,
  type PersistKind,
} from './model/config.js';
export { defaultContext } from './engine/context.js';
export type { Backend, Context, Finding } from './model/context.js';
export { converge, down, planChange, resolveDesired, status, up, type ChangeOptions, type ChangeResult, type StatusReport } from './engine/converge.js';
export type { State } from './model/state.js';
export { loadState } from './engine/state-store.js';
export { EXIT_CODES, HostaliasError, type ErrorCode } from './model/errors.js';
export { ProcessRunner } from './exec/runner.js';
export type { Runner, RunResult } from './model/runner.js';
export { SystemFs } from './fs/system-fs.js';
export { renderPlan, type Plan, type PlanNote, type Step } from './model/steps.js';
export { startForwarder, type Forwarder, type ForwarderOptions, type ForwardStats } from './forward/forwarder.js';
export { startTcpRelay, type RelayStats, type TcpRelay, type TcpRelayOptions } from './forward/tcp-relay.js';
export { LOOPBACK_HOSTS, loopbackTargets, targetPicker, type Endpoint, type TargetOrder, type TargetPicker } from './forward/targets.js';
export { startUdpRelay, type UdpRelay, type UdpRelayOptions, type UdpRelayStats } from './forward/udp-relay.js';
export { describeTargets, formatEndpoint, parseTargets } from './forward/spec.js';
export { addHostArgs, formatFlags, hostEntries, type FlagFormat, type HostTarget } from './docker/add-hosts.js';
export { buildRunArgv, type RunArgv } from './docker/run-argv.js';
export { planInPlace, planOverride, type ComposePlan, type ComposeSource } from './docker/compose-plan.js';
export { chooseGatewayKey, withGateway, type GatewayKey } from './docker/daemon-json.js';
export { doctorInput, loadHostTarget } from './engine/inputs.js';
export { expose, unexpose, type ExposeResult } from './engine/expose.js';
export { chooseExposeVia, managedForwards, type ExposeDecision, type ExposeViaChoice, type PortListener } from './model/expose.js';
export { refreshFirewall } from './engine/refresh.js';
export { runChecks } from './doctor/run-checks.js';
export { runProbe } from './doctor/probe.js';
