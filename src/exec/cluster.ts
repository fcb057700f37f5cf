import cluster, { type Worker } from 'node:cluster';

export type { Worker };

/**
 * Forks one Node worker process running the module at `exec` (node:cluster, so workers share the
 * primary's listening sockets). The documented exception to the Runner (runner.ts): the forward
 * relay's workers are long-running servers, not commands. `roundRobin` has the primary hand out
 * connections in turn (cluster.SCHED_RR); otherwise the kernel spreads accepts (SCHED_NONE).
 * Node fixes the policy at the first fork, so every call sets both, the same way.
 */
export function forkWorker(exec: string, env: Record<string, string>, roundRobin: boolean): Worker {
  cluster.schedulingPolicy = roundRobin ? cluster.SCHED_RR : cluster.SCHED_NONE;
  cluster.setupPrimary({ exec, args: [] });
  return cluster.fork(env);
}

/** This process is a worker that forkWorker started. */
export function isForkedWorker(): boolean {
  return cluster.isWorker;
}
