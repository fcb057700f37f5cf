import type { Context } from '../../model/context.js';
import type { ForwardSpec } from '../../model/config.js';
import type { Part } from '../../model/context.js';
import { currentRuntime } from '../../exec/runtime.js';
import { LIBRARY_PATH_VAR } from './node-libraries.js';
import { forwardArgs } from '../../forward/service-args.js';
import type { ForwardRuntime } from '../../exec/runtime.js';
import { emptyPlan, type Plan } from '../../model/steps.js';
import { managedForwards } from '../../model/expose.js';
import { LAUNCH_DAEMONS_DIR, observeJob, planJob, planJobRemoval, type JobObserved, type LaunchdJob } from './launchd.js';

/** e.g. dev.hostalias.forward.5432-tcp (the plist is LABEL.plist in /Library/LaunchDaemons). */
export function forwardLabel(spec: Pick<ForwardSpec, 'port' | 'proto'>): string {
  return `dev.hostalias.forward.${spec.port}-${spec.proto}`;
}

/**
 * The port and protocol a forward label names (the inverse of forwardLabel), or null when it is not
 * one: only labels this planner owns; any other plist in /Library/LaunchDaemons is never touched. Pure.
 */
export function parseForwardLabel(label: string): Pick<ForwardSpec, 'port' | 'proto'> | null {
  const m = /^dev\.hostalias\.forward\.(\d+)-(tcp|udp)$/.exec(label);
  return m ? { port: Number(m[1]), proto: m[2] as 'tcp' | 'udp' } : null;
}

/** The forward label a file is named after (LABEL.plist in /Library/LaunchDaemons, LABEL.log in /var/log), or null. Pure. */
export function forwardLabelOfFile(name: string, ext: '.plist' | '.log'): string | null {
  const label = name.endsWith(ext) ? name.slice(0, -ext.length) : '';
  return parseForwardLabel(label) ? label : null;
}

/** launchd writes the relay's stdout and stderr here; /var/log exists on every Mac (launchd creates files, not folders). */
export function forwardLogPath(label: string): string {
  return `/var/log/${label}.log`;
}

/**
 * The environment of a LaunchDaemon that runs the installed copy of node: the copy's own
 * libraries first (a Homebrew node's dylibs, copied beside it: node-libraries.ts); harmless for a
 * node that links only macOS's, and ignored by a hardened-runtime one. Pure.
 */
export function relayEnvironment(rt: ForwardRuntime): Record<string, string> {
  return { [LIBRARY_PATH_VAR]: `${rt.nodePath.slice(0, rt.nodePath.lastIndexOf('/'))}/lib` };
}

/**
 * The relay as a LaunchDaemon: started at load and at boot (RunAtLoad), restarted whenever it exits
 * (KeepAlive) — which also covers a boot where it starts before the alias job has added the address
 * and the bind fails: launchd retries it (at most every 10 s, its default throttle). Pure.
 *
 * It runs as root (no UserName), as the relays do on Linux. XNU refuses what a relay needs to a
 * user other than root (bsd/netinet/in_pcb.c, in_pcbbind): binding a specific address — the
 * alias — below port 1024 needs PRIV_NETINET_RESERVEDPORT (EACCES; macOS lets any user bind
 * below 1024 only on INADDR_ANY), and binding a specific address while another user holds
 * *:PORT is EADDRINUSE (the check is skipped for uid 0). launchd's `Sockets` activation could
 * bind for it, but the job must check in through launch(3)'s C API (launchd.plist(5)), which a
 * Node process can't call. Its log is in /var/log, which root can write: launchd opens
 * StandardOutPath/StandardErrorPath as the job's user and does not start a job that can't.
 */
export function forwardJob(spec: ForwardSpec, ip: string, rt: ForwardRuntime): LaunchdJob {
  const label = forwardLabel(spec);
  return {
    label,
    // The default target is spelled out (`--to PORT`: the loopback, 127.0.0.1 or ::1) so the plist says where the relay goes.
    programArguments: [rt.nodePath, rt.cliPath, ...forwardArgs({ ...spec, targets: spec.targets.length > 0 ? spec.targets : [String(spec.port)] }, ip)],
    keepAlive: true,
    environment: relayEnvironment(rt),
    standardOutPath: forwardLogPath(label),
    standardErrorPath: forwardLogPath(label),
  };
}

export interface ForwardJobsObserved {
  /** Every dev.hostalias.forward.* job that is installed or wanted, by label. */
  jobs: Record<string, JobObserved>;
  /** Labels whose log file exists. */
  logs: Record<string, string>;
}

export interface ForwardJobsTarget {
  ip: string;
  forwards: ForwardSpec[];
}

/**
 * Converges the forward LaunchDaemons to `desired` (null: `down`, remove them all). Jobs no longer
 * wanted are booted out, their plist and log removed (already gone is success); new or changed
 * ones are written and bootstrapped (a changed one is booted out first). Pure; planning again after
 * apply returns no steps. Under --root launchd's state is unknown and its steps are skipped.
 */
export function planForwardJobs(desired: ForwardJobsTarget | null, obs: ForwardJobsObserved, rt: ForwardRuntime): Plan {
  const plan = emptyPlan();
  const wanted = new Map<string, LaunchdJob>();
  for (const f of desired?.forwards ?? []) {
    const job = forwardJob(f, desired?.ip ?? '', rt);
    wanted.set(job.label, job);
  }
  const none: JobObserved = { file: null, loaded: false };
  for (const label of Object.keys(obs.jobs).sort()) {
    if (wanted.has(label)) continue;
    plan.steps.push(...planJobRemoval(label, obs.jobs[label] ?? none));
    const log = obs.logs[label];
    if (log !== undefined) plan.steps.push({ kind: 'remove', path: forwardLogPath(label), before: log, why: `remove the log of ${label}` });
  }
  for (const [label, job] of wanted) plan.steps.push(...planJob(job, obs.jobs[label] ?? none, { load: true }));
  return plan;
}

/** Reads the forward plists (found on disk, plus `labels`), whether launchd has them loaded, and their logs. Read-only, no root. */
export async function observeForwardJobs(ctx: Context, labels: readonly string[]): Promise<ForwardJobsObserved> {
  const all = new Set(labels);
  for (const name of await ctx.fs.list(LAUNCH_DAEMONS_DIR)) {
    const label = forwardLabelOfFile(name, '.plist');
    if (label) all.add(label);
  }
  const jobs: Record<string, JobObserved> = {};
  const logs: Record<string, string> = {};
  for (const label of [...all].sort()) {
    jobs[label] = await observeJob(ctx, label);
    const log = await ctx.fs.read(forwardLogPath(label));
    if (log !== null) logs[label] = log;
  }
  return { jobs, logs };
}

/** `forward --install` on macOS: one LaunchDaemon per forward; `--uninstall` and `down` remove it. */
export const forwardLaunchdPart: Part = {
  id: 'forward-services',
  async plan(ctx, { desired, state }) {
    // `forward --install` jobs and the relays of `expose --via relay`, planned alike.
    const forwards = desired ? managedForwards(desired) : [];
    // The state's forwards too: a job still loaded whose plist was deleted by hand must be booted out.
    const obs = await observeForwardJobs(ctx, [...forwards, ...(state ? managedForwards(state.desired) : [])].map(forwardLabel));
    return planForwardJobs(desired ? { ip: desired.ip, forwards } : null, obs, currentRuntime());
  },
};
