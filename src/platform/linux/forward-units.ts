import { managedHeader } from '../../model/managed.js';
import { systemdExecLine } from './systemd.js';
import type { ForwardSpec } from '../../model/config.js';
import { emptyPlan, type Plan, type Step, planNote } from '../../model/steps.js';
import { forwardArgs } from '../../forward/service-args.js';
import type { ForwardRuntime } from '../../exec/runtime.js';
import { describeTargets, targetsOf, unitName } from '../../forward/spec.js';

export const UNIT_DIR = '/etc/systemd/system';
export const WANTS_DIR = '/etc/systemd/system/multi-user.target.wants';
/** The one service process (`hostalias serve`): `expose --all`'s loopback relay and its watcher. */
export const SERVE_UNIT = 'hostalias-serve.service';
/** Files this planner owns; anything else in UNIT_DIR is never touched. */
export const UNIT_PATTERN = /^hostalias-(forward-\d+-(tcp|udp)|serve)\.service$/;

export interface ForwardServicesObserved {
  /** Every hostalias-forward-*.service in UNIT_DIR, by file name → content. */
  units: Record<string, string>;
  /** Link target of WANTS_DIR/<name> for those names and the desired ones (null: no link). */
  wants: Record<string, string | null>;
  systemdRunning: boolean;
}

export interface ForwardServicesTarget {
  ip: string;
  forwards: ForwardSpec[];
  /** `expose --all`'s loopback relay (hostalias serve): the ports it never relays; null: not wanted. */
  loopback?: { keptOut: number[] } | null;
}

/** The arguments of `hostalias serve` for `expose --all` at `ip`, keeping `keptOut` out. Pure. */
export function serveArgs(ip: string, keptOut: readonly number[]): string[] {
  return ['serve', '--ip', ip, ...(keptOut.length > 0 ? ['--kept-out', keptOut.join(',')] : [])];
}

/**
 * The unit of the one service process. Restart=always: whatever ends it (a crash, a SIGKILL),
 * systemd runs it again a second later, and the new process fills the firewall's sets afresh.
 */
export function serveUnit(ip: string, keptOut: readonly number[], rt: ForwardRuntime): string {
  return `${managedHeader('#', 'hostalias down', 'hostalias expose --all')}
[Unit]
Description=hostalias: the loopback relay of expose --all (TCP services on ::1 only at ${ip}:PORT)
After=network.target hostalias.service

[Service]
ExecStart=${systemdExecLine([rt.nodePath, rt.cliPath, ...serveArgs(ip, keptOut)])}
Restart=always
RestartSec=1
LimitNOFILE=65536
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
`;
}

export function forwardUnit(spec: ForwardSpec, ip: string, rt: ForwardRuntime): string {
  const to = describeTargets(targetsOf(spec));
  const by = spec.forExpose ? `hostalias expose ${spec.port}/${spec.proto}` : 'hostalias forward --install';
  return `${managedHeader('#', 'hostalias down', by)}
[Unit]
Description=hostalias: ${spec.forExpose ? 'expose' : 'forward'} ${spec.listen ?? ip}:${spec.port}/${spec.proto} to ${to}
After=network.target hostalias.service

[Service]
ExecStart=${systemdExecLine([rt.nodePath, rt.cliPath, ...forwardArgs(spec, ip)])}
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Converges the forward services to `desired` (null: `down`, remove them all). Units that are not
 * wanted any more are stopped and removed; new or changed ones are written, enabled and
 * (re)started. Service-manager calls only when systemd runs (and are skipped under --root).
 * Pure; planning again after apply returns no steps.
 */
export function planForwardServices(desired: ForwardServicesTarget | null, obs: ForwardServicesObserved, rt: ForwardRuntime): Plan {
  const plan = emptyPlan();
  const svc = (argv: string[], why: string, undo?: string[]): Step => ({ kind: 'run', argv, service: true, why, ...(undo ? { undo } : {}) });
  const wanted = new Map<string, string>();
  for (const f of desired?.forwards ?? []) wanted.set(unitName(f), forwardUnit(f, desired?.ip ?? '', rt));
  if (desired?.loopback) wanted.set(SERVE_UNIT, serveUnit(desired.ip, desired.loopback.keptOut, rt));

  const stops: Step[] = [];
  const files: Step[] = [];
  const starts: Step[] = [];
  for (const [name, content] of Object.entries(obs.units).sort()) {
    if (wanted.has(name)) continue;
    if (obs.systemdRunning) stops.push(svc(['systemctl', 'stop', name], `stop the forward service ${name}`));
    if ((obs.wants[name] ?? null) !== null) files.push({ kind: 'remove', path: `${WANTS_DIR}/${name}`, before: null, why: `disable ${name}` });
    files.push({ kind: 'remove', path: `${UNIT_DIR}/${name}`, before: content, why: `remove the forward service ${name}` });
  }
  for (const [name, content] of wanted) {
    const path = `${UNIT_DIR}/${name}`;
    const before = obs.units[name] ?? null;
    if (before !== content) {
      files.push({ kind: 'write', path, content, mode: 0o644, before, why: `run the forward as a service (${name})` });
      if (obs.systemdRunning) starts.push(svc(['systemctl', 'restart', name], `start ${name}`, ['systemctl', 'stop', name]));
    }
    if ((obs.wants[name] ?? null) !== path) files.push({ kind: 'symlink', path: `${WANTS_DIR}/${name}`, target: path, why: `start ${name} at boot` });
  }
  const reload = files.length > 0 && obs.systemdRunning ? [svc(['systemctl', 'daemon-reload'], 'make systemd read the forward units')] : [];
  plan.steps.push(...stops, ...files, ...reload, ...starts);
  if (wanted.size > 0 && !obs.systemdRunning && files.length > 0) {
    plan.notes.push(planNote('forward-units-at-boot', 'systemd is not running here (or --root): the forward units start at the next boot'));
  }
  return plan;
}
