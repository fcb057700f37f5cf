import type { Part } from '../../model/context.js';
import { currentRuntime, type ForwardRuntime } from '../../exec/runtime.js';
import { emptyPlan, type Plan } from '../../model/steps.js';
import { relayEnvironment } from './forward-launchd.js';
import { observeJob, planJob, planJobRemoval, type JobObserved, type LaunchdJob } from './launchd.js';

export const DNS_JOB_LABEL = 'dev.hostalias.dns';
export const DNS_JOB_LOG = `/var/log/${DNS_JOB_LABEL}.log`;

/**
 * The resolver as a LaunchDaemon: started at load and at boot, restarted whenever it exits
 * (KeepAlive; launchd throttles restarts to one per 10 s), as root like the relays: it binds the
 * alias's port 53, and XNU lets only root bind a specific address below 1024 (bsd/netinet/in_pcb.c,
 * in_pcbbind: EACCES otherwise; "any user below 1024" holds for INADDR_ANY only), and launchd opens
 * its log in /var/log as the job's user (see forwardJob). The installed copy's own libraries
 * first, as for the relays. It answers loopback only: on macOS every
 * engine runs in a VM with its own DNS, so no container network is trusted. Pure.
 */
export function dnsJob(ip: string, rt: ForwardRuntime): LaunchdJob {
  return {
    label: DNS_JOB_LABEL,
    programArguments: [rt.nodePath, rt.cliPath, 'resolver', '--listen', ip],
    keepAlive: true,
    environment: relayEnvironment(rt),
    standardOutPath: DNS_JOB_LOG,
    standardErrorPath: DNS_JOB_LOG,
  };
}

/** Converges the resolver's LaunchDaemon (null: booted out, plist and log removed). Pure. */
export function planDnsJob(ip: string | null, obs: JobObserved, log: string | null, rt: ForwardRuntime): Plan {
  const plan = emptyPlan();
  if (ip === null) {
    plan.steps.push(...planJobRemoval(DNS_JOB_LABEL, obs));
    if (log !== null) plan.steps.push({ kind: 'remove', path: DNS_JOB_LOG, before: log, why: `remove the log of ${DNS_JOB_LABEL}` });
    return plan;
  }
  plan.steps.push(...planJob(dnsJob(ip, rt), obs, { load: true }));
  return plan;
}

/** `up --dns` on macOS: the resolver as the LaunchDaemon dev.hostalias.dns; `--no-dns` and `down` remove it. */
export const dnsLaunchdPart: Part = {
  id: 'dns-service',
  async plan(ctx, { desired, state }) {
    const ip = desired?.dns ? desired.ip : null;
    const obs = await observeJob(ctx, DNS_JOB_LABEL);
    const log = await ctx.fs.read(DNS_JOB_LOG);
    if (ip === null && obs.file === null && !obs.loaded && log === null && !state?.desired.dns) return emptyPlan();
    return planDnsJob(ip, obs, log, currentRuntime());
  },
};
