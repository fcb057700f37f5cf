/**
 * Last-resort cleanup for the test lab.
 *
 * Normal cleanup is async (Netns.destroy / Dockerd.stop, run from t.after).
 * If the test process dies before that (uncaught error, SIGTERM from the test
 * runner's timeout, Ctrl-C), the synchronous handlers registered here still
 * kill what we started, unmount what it mounted and delete our namespaces.
 * `sweepStaleLab()` removes what a previous, hard-killed (SIGKILL) run left.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { pidAlive } from './exec.js';

/** Prefix of every lab temp dir (kept short: unix socket paths must stay < 108 bytes). */
export const LAB_TMP_PREFIX = '/tmp/hal-';
/** Prefix of every lab network namespace name. */
export const NETNS_PREFIX = 'ha-';

type SyncCleanup = () => void;
const exitCleanups = new Map<number, SyncCleanup>();
let nextCleanupId = 0;
let handlersInstalled = false;

function runExitCleanups(): void {
  // Newest first: dockerds before the namespaces they live in.
  const fns = [...exitCleanups.entries()].sort((a, b) => b[0] - a[0]).map(([, fn]) => fn);
  exitCleanups.clear();
  for (const fn of fns) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', runExitCleanups);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      runExitCleanups();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Register a synchronous cleanup run if the process exits before it is unregistered. */
export function registerExitCleanup(fn: SyncCleanup): () => void {
  installHandlers();
  const id = nextCleanupId++;
  exitCleanups.set(id, fn);
  return () => {
    exitCleanups.delete(id);
  };
}

/* ------------------------------------------------------------------ mounts */

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below `dir` (as seen in our mount namespace), deepest / newest first. */
export function mountsUnder(dir: string): string[] {
  const base = dir.replace(/\/+$/, '');
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = unescapeMount(fields[4] ?? '');
    if (mp === base || mp.startsWith(`${base}/`)) found.push(mp);
  }
  // mountinfo lists in mount order: undo in reverse, deeper paths first.
  return found
    .map((mp, i) => ({ mp, i }))
    .sort((a, b) => b.mp.split('/').length - a.mp.split('/').length || b.i - a.i)
    .map((x) => x.mp);
}

/** Unmount everything at or below dir (lazy unmount as fallback). Synchronous, best effort. */
export function unmountUnderSync(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const mps = mountsUnder(dir);
    if (mps.length === 0) return;
    for (const mp of mps) {
      try {
        execFileSync('umount', [mp], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        try {
          execFileSync('umount', ['-l', mp], { stdio: 'ignore', timeout: 10_000 });
        } catch {
          // already gone (parent unmounted it), retried next round
        }
      }
    }
  }
}

/* --------------------------------------------------------------- processes */

function listPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (/^\d+$/.test(e)) out.push(Number(e));
  }
  return out;
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** PIDs (other than ours) whose command line mentions `needle` (e.g. an exec-root path). */
export function pidsWithArg(needle: string): number[] {
  const self = process.pid;
  return listPids().filter((pid) => pid !== self && cmdline(pid).some((a) => a.includes(needle)));
}

/** PIDs whose network namespace is the one bind-mounted at nsPath. */
export function pidsInNetns(nsPath: string): number[] {
  let target: string;
  try {
    const st = statSync(nsPath);
    target = `net:[${st.ino}]`;
  } catch {
    return [];
  }
  const self = process.pid;
  return listPids().filter((pid) => {
    if (pid === self) return false;
    try {
      return readlinkSync(`/proc/${pid}/ns/net`) === target;
    } catch {
      return false;
    }
  });
}

/** PIDs in the cgroups docker created for these container ids (cgroup v1 and v2, cgroupfs driver). */
export function pidsInContainerCgroups(containerIds: readonly string[]): number[] {
  const pids = new Set<number>();
  let roots: string[] = [];
  try {
    roots = readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`);
  } catch {
    return [];
  }
  roots.push('/sys/fs/cgroup');
  for (const id of containerIds) {
    for (const root of roots) {
      for (const p of [`${root}/docker/${id}/cgroup.procs`, `${root}/system.slice/docker-${id}.scope/cgroup.procs`]) {
        try {
          for (const l of readFileSync(p, 'utf8').split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
        } catch {
          // not there
        }
      }
    }
  }
  return [...pids];
}

/** Remove (empty) cgroup directories docker made for these containers. Best effort. */
export function removeContainerCgroupsSync(containerIds: readonly string[]): void {
  let roots: string[] = [];
  try {
    roots = readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}`);
  } catch {
    return;
  }
  roots.push('/sys/fs/cgroup');
  for (const id of containerIds) {
    for (const root of roots) {
      try {
        rmdirSync(`${root}/docker/${id}`);
      } catch {
        // not there / busy
      }
    }
  }
}

export function killPidsSync(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** Container ids known to a docker data-root (its containers/ directory). */
export function containerIdsIn(dataRoot: string): string[] {
  try {
    return readdirSync(`${dataRoot}/containers`).filter((e) => /^[0-9a-f]{64}$/.test(e));
  } catch {
    return [];
  }
}

/**
 * Synchronously tear down everything that belongs to a lab dockerd whose files live
 * in `dir` (data-root, exec-root, pidfile...). Used on abnormal exit and by the sweeper.
 */
export function destroyDockerdDirSync(dir: string, dockerdPid: number | undefined): void {
  if (dockerdPid !== undefined) killPidsSync([dockerdPid]);
  const ids = containerIdsIn(`${dir}/data`);
  killPidsSync(pidsInContainerCgroups(ids));
  killPidsSync(pidsWithArg(`${dir}/`));
  unmountUnderSync(dir);
  removeContainerCgroupsSync(ids);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // EBUSY: lazy unmounts still draining; the sweeper gets it next time
  }
}

/** Synchronously kill everything in a lab netns and delete it. */
export function destroyNetnsSync(name: string): void {
  const path = `/run/netns/${name}`;
  killPidsSync(pidsInNetns(path));
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // already gone
  }
}

/* ----------------------------------------------------------------- sweeper */

/**
 * Remove lab namespaces and dockerd dirs whose owning test process is dead
 * (a run that was SIGKILLed). Safe to call while other test files run: it only
 * touches resources whose recorded owner pid no longer exists.
 */
export function sweepStaleLab(): { netns: string[]; dirs: string[] } {
  const removed = { netns: [] as string[], dirs: [] as string[] };
  let dirs: string[] = [];
  try {
    dirs = readdirSync('/tmp')
      .map((e) => `/tmp/${e}`)
      .filter((p) => p.startsWith(LAB_TMP_PREFIX));
  } catch {
    // no /tmp?
  }
  for (const dir of dirs) {
    let owner: number;
    try {
      owner = Number(readFileSync(`${dir}/owner.pid`, 'utf8').trim());
    } catch {
      continue; // not ours or still being set up
    }
    if (!Number.isInteger(owner) || owner <= 0 || pidAlive(owner)) continue;
    let dockerdPid: number | undefined;
    try {
      dockerdPid = Number(readFileSync(`${dir}/docker.pid`, 'utf8').trim()) || undefined;
    } catch {
      dockerdPid = undefined;
    }
    // Only kill the recorded pid if it still is a dockerd using this dir.
    if (dockerdPid !== undefined && !cmdline(dockerdPid).some((a) => a.includes(`${dir}/`))) dockerdPid = undefined;
    destroyDockerdDirSync(dir, dockerdPid);
    removed.dirs.push(dir);
  }
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    // none
  }
  for (const name of names) {
    const m = /^ha-.*-(\d+)-\d+$/.exec(name);
    if (m === null) continue;
    const owner = Number(m[1]);
    if (pidAlive(owner)) continue;
    destroyNetnsSync(name);
    removed.netns.push(name);
  }
  return removed;
}
