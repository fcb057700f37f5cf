import type { Context, Part } from '../../model/context.js';
import { currentRuntime, type ForwardRuntime } from '../../exec/runtime.js';
import { HostaliasError } from '../../model/errors.js';
import { managedHeader } from '../../model/managed.js';
import { emptyPlan, type Plan, planNote, type Step } from '../../model/steps.js';
import { CONTAINER_BRIDGE_PATTERNS } from './firewall/spec.js';
import { observeInit, systemdExecLine } from './systemd.js';
import { UNIT_DIR, WANTS_DIR } from './forward-units.js';
import { DNS_PORT, RESOLVER_TITLE } from '../../dns/load.js';

export const DNS_UNIT = 'hostalias-dns.service';

export interface DnsUnitObserved {
  unit: string | null;
  /** Link target of WANTS_DIR/DNS_UNIT (null: none). */
  wants: string | null;
  systemdRunning: boolean;
}

export interface DnsUnitTarget {
  ip: string;
  /** Interfaces whose networks it answers (the LAN guard's container bridges, --allow-iface). */
  trusted: string[];
}

/** The resolver's command line after node and the CLI: what the unit runs. Pure. */
export function resolverArgs(target: DnsUnitTarget): string[] {
  return ['resolver', '--listen', target.ip, ...target.trusted.flatMap((t) => ['--trust-iface', t])];
}

/**
 * The unit: the installed copy of hostalias (never the folder it was run from), restarted a second
 * after any exit whatever the cause (Restart=always, never given up: StartLimitIntervalSec=0), so
 * a crash, a kill or a boot where the alias came up after it costs at most a second. It runs as
 * a dynamic unprivileged user that may bind port 53 and nothing more. Pure.
 */
export function dnsUnit(target: DnsUnitTarget, rt: ForwardRuntime): string {
  return `${managedHeader('#', 'hostalias down', 'hostalias up --dns')}
[Unit]
Description=hostalias: DNS resolver on ${target.ip}:${DNS_PORT} (recorded names, then the host's /etc/hosts and resolvers)
After=network.target hostalias.service
StartLimitIntervalSec=0

[Service]
ExecStart=${systemdExecLine([rt.nodePath, rt.cliPath, ...resolverArgs(target)])}
Restart=always
RestartSec=1
DynamicUser=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
TimeoutStopSec=5

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Converges the resolver's unit to `desired` (null: stopped and removed). A new or changed unit is
 * written, enabled and (re)started; service-manager calls only when systemd runs (never under
 * --root or --files-root). Pure; planning again after apply returns no steps.
 */
export function planDnsUnit(desired: DnsUnitTarget | null, obs: DnsUnitObserved, rt: ForwardRuntime): Plan {
  const plan = emptyPlan();
  const path = `${UNIT_DIR}/${DNS_UNIT}`;
  const svc = (argv: string[], why: string, undo?: string[]): Step => ({ kind: 'run', argv, service: true, why, ...(undo ? { undo } : {}) });
  const files: Step[] = [];
  if (!desired) {
    if (obs.unit === null && obs.wants === null) return plan;
    if (obs.systemdRunning) plan.steps.push(svc(['systemctl', 'stop', DNS_UNIT], 'stop the resolver'));
    if (obs.wants !== null) files.push({ kind: 'remove', path: `${WANTS_DIR}/${DNS_UNIT}`, before: null, why: `disable ${DNS_UNIT}` });
    if (obs.unit !== null) files.push({ kind: 'remove', path, before: obs.unit, why: `remove the resolver's unit ${DNS_UNIT}` });
    plan.steps.push(...files);
    if (obs.systemdRunning) plan.steps.push(svc(['systemctl', 'daemon-reload'], 'make systemd forget the resolver'));
    return plan;
  }
  const content = dnsUnit(desired, rt);
  const changed = obs.unit !== content;
  if (changed)
    files.push({
      kind: 'write',
      path,
      content,
      mode: 0o644,
      before: obs.unit,
      why: `run the resolver on ${desired.ip}:${DNS_PORT} as a service (${DNS_UNIT})`,
    });
  if (obs.wants !== path) files.push({ kind: 'symlink', path: `${WANTS_DIR}/${DNS_UNIT}`, target: path, why: `start ${DNS_UNIT} at boot` });
  plan.steps.push(...files);
  if (files.length > 0 && obs.systemdRunning) plan.steps.push(svc(['systemctl', 'daemon-reload'], 'make systemd read the resolver unit'));
  if (changed && obs.systemdRunning) plan.steps.push(svc(['systemctl', 'restart', DNS_UNIT], `start ${DNS_UNIT}`, ['systemctl', 'stop', DNS_UNIT]));
  if (changed && !obs.systemdRunning)
    plan.notes.push(planNote('dns-unit-at-boot', `systemd is not running here (or --root): ${DNS_UNIT} starts at the next boot`, { unit: DNS_UNIT }));
  return plan;
}

export async function observeDnsUnit(ctx: Context): Promise<DnsUnitObserved> {
  return {
    unit: await ctx.fs.read(`${UNIT_DIR}/${DNS_UNIT}`),
    wants: await ctx.fs.readLink(`${WANTS_DIR}/${DNS_UNIT}`),
    systemdRunning: (await observeInit(ctx)).systemdRunning,
  };
}

/** The interfaces the resolver trusts: the LAN guard's container bridge patterns and --allow-iface. Pure. */
export function trustedIfaces(allowIfaces: readonly string[]): string[] {
  return [...new Set([...CONTAINER_BRIDGE_PATTERNS.map((p) => p.iptables), ...allowIfaces])];
}

/**
 * Refuses `up --dns` when something else holds port 53 on the alias (or on every address), before
 * anything changes: exit 3, naming who. The resolver itself (an earlier `up --dns`) is not a conflict.
 */
export async function refusePort53Taken(ctx: Context, ip: string): Promise<void> {
  if (!ctx.live || !ctx.backend.portHolders) return;
  const holders = new Set<string>();
  for (const proto of ['udp', 'tcp'] as const) {
    for (const h of await ctx.backend.portHolders(ctx, proto, ip, DNS_PORT)) if (!h.startsWith(`${RESOLVER_TITLE}[`)) holders.add(`${h} (${proto})`);
  }
  if (holders.size === 0) return;
  throw new HostaliasError(
    'conflict',
    `port ${DNS_PORT} on ${ip} is already taken by ${[...holders].join(', ')}, so the resolver of --dns can't listen there; nothing was changed`,
    `stop it or make it listen elsewhere (dnsmasq: --bind-interfaces --except-interface=lo, or listen-address=127.0.0.1), then run hostalias up --dns again`,
  );
}

/** `up --dns`: the resolver as a systemd unit; `--no-dns` and `down` remove it. */
export const dnsUnitPart: Part = {
  id: 'dns-service',
  async plan(ctx, { desired, state }) {
    const want = desired?.dns ? { ip: desired.ip, trusted: trustedIfaces(desired.allowIfaces) } : null;
    const obs = await observeDnsUnit(ctx);
    if (!want && obs.unit === null && obs.wants === null && !state?.desired.dns) return emptyPlan();
    if (want) await refusePort53Taken(ctx, want.ip);
    return planDnsUnit(want, obs, currentRuntime());
  },
};
