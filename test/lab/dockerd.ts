/**
 * A private dockerd per lab network namespace.
 *
 * dockerd runs in the namespace's network stack only (nsenter --net): its
 * docker0, bridges, iptables rules and ip_forward live in the namespace, while
 * files and mounts are in the shared filesystem under one temp dir
 * (/tmp/hal-XXXXXX: data/, exec/, docker.sock, daemon.json, dockerd.log), which
 * stop() unmounts and removes. It always gets its own --config-file so the
 * machine's /etc/docker/daemon.json is never read.
 */
import { copyFile, chmod, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { execArgv, pidAlive, raceTimeout, sleep, TIMEOUT, waitFor, which } from './exec.js';
import type { ExecOptions, ExecResult } from './exec.js';
import {
  containerIdsIn,
  killPidsSync,
  LAB_TMP_PREFIX,
  mountsUnder,
  pidsInContainerCgroups,
  pidsWithArg,
  registerExitCleanup,
  removeContainerCgroupsSync,
  destroyDockerdDirSync,
  unmountUnderSync,
} from './cleanup.js';
import type { Netns } from './netns.js';

export interface StartDockerdOptions {
  /**
   * Written to <dir>/daemon.json and passed as --config-file. Ignored if configFile is given.
   * The lab adds "deprecated-key-path": "<dir>/key.json" unless present (see startDockerd).
   */
  daemonJson?: Record<string, unknown> | undefined;
  /** Use this daemon.json instead (e.g. one the CLI under test edits; then call restart()). */
  configFile?: string | undefined;
  /**
   * Force a storage driver (--storage-driver). Default: dockerd's own choice, which is
   * overlay2 on this machine's /tmp (ext4); env HOSTALIAS_LAB_STORAGE_DRIVER overrides.
   */
  storageDriver?: string | undefined;
  /** Extra dockerd flags. Flags also set in the config file make dockerd refuse to start. */
  extraArgs?: string[] | undefined;
  /** Default 60 000. */
  startTimeoutMs?: number | undefined;
}

export interface Dockerd {
  readonly ns: Netns;
  /** 'unix:///tmp/hal-XXXXXX/docker.sock' */
  readonly host: string;
  /** process.env plus DOCKER_HOST (and an isolated DOCKER_CONFIG): pass to docker / the CLI. */
  readonly env: NodeJS.ProcessEnv;
  /** PID of the current dockerd (changes on restart). */
  readonly pid: number;
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly configFile: string;
  readonly logFile: string;
  /** How long the last (re)start took until `docker version` answered, in ms. */
  readonly startMs: number;
  /** Run the docker client against this daemon; opts.env is merged over `env`. */
  docker(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Last lines of dockerd's log. */
  logTail(lines?: number): Promise<string>;
  /** Graceful stop of dockerd (containers stop as usual) and start again with the same flags and dirs. */
  restart(): Promise<void>;
  /** SIGHUP: dockerd reloads the reloadable options of its config file. */
  reload(): void;
  /** Kill containers, stop dockerd, kill containerd/shims, unmount, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const READY_POLL_MS = 200;

class DockerdImpl implements Dockerd {
  readonly ns: Netns;
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
  startMs = 0;
  private child: ChildProcess | undefined;
  private readonly argv: string[];
  private readonly startTimeoutMs: number;
  private stopping: Promise<void> | undefined;
  private readonly unregisterExit: () => void;
  private readonly unregisterNs: () => void;

  constructor(ns: Netns, dir: string, configFile: string, flags: string[], startTimeoutMs: number) {
    this.ns = ns;
    this.dir = dir;
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'exec');
    this.configFile = configFile;
    this.logFile = join(dir, 'dockerd.log');
    const sock = join(dir, 'docker.sock');
    this.host = `unix://${sock}`;
    this.startTimeoutMs = startTimeoutMs;
    this.argv = [
      'dockerd',
      '--data-root',
      this.dataRoot,
      '--exec-root',
      this.execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      this.host,
      '--config-file',
      configFile,
      ...flags,
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DOCKER_HOST: this.host,
      DOCKER_CONFIG: join(dir, 'client'),
      DOCKER_CLI_HINTS: 'false',
    };
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[k];
    this.env = env;
    this.unregisterExit = registerExitCleanup(() => destroyDockerdDirSync(dir, this.child?.pid));
    this.unregisterNs = ns.onDestroy(() => this.stop());
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('dockerd is not running');
    return pid;
  }

  docker(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execArgv(['docker', ...args], { ...opts, env: { ...this.env, ...opts.env } });
  }

  async logTail(lines = 40): Promise<string> {
    try {
      const text = await readFile(this.logFile, 'utf8');
      return text
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    } catch {
      return '(no dockerd log)';
    }
  }

  reload(): void {
    process.kill(this.pid, 'SIGHUP');
  }

  private running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Spawn dockerd and wait until the API answers. */
  async launch(): Promise<void> {
    const started = Date.now();
    const log = await open(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = this.ns.spawn(this.argv, { stdio: ['ignore', log.fd, log.fd] });
    } finally {
      await log.close();
    }
    this.child = child;
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    const deadline = started + this.startTimeoutMs;
    for (;;) {
      if (spawnError !== undefined) throw new Error(`cannot start dockerd: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `dockerd in ${this.ns.name} exited during start (code ${child.exitCode}, signal ${child.signalCode})\n` +
            `--- dockerd log tail ---\n${await this.logTail()}`,
        );
      }
      const r = await this.docker(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 5000 });
      if (r.code === 0) break;
      if (Date.now() >= deadline) {
        throw new Error(
          `dockerd in ${this.ns.name} did not answer within ${this.startTimeoutMs} ms (last: ${r.stderr.trim()})\n` +
            `--- dockerd log tail ---\n${await this.logTail()}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
    this.startMs = Date.now() - started;
  }

  /** SIGTERM dockerd, wait (bounded), SIGKILL. Returns true if it had to be killed. */
  private async terminate(graceMs: number): Promise<boolean> {
    const c = this.child;
    if (c === undefined || !this.running()) return false;
    const exited = new Promise<void>((r) => {
      if (!this.running()) r();
      else c.once('exit', () => r());
    });
    c.kill('SIGTERM');
    if ((await raceTimeout(exited, graceMs)) !== TIMEOUT) return false;
    c.kill('SIGKILL');
    await raceTimeout(exited, 10_000);
    return true;
  }

  /** Wait for (then kill) this daemon's containerd, shims and container processes. */
  private async reapHelpers(graceMs: number): Promise<void> {
    const leftovers = (): number[] => [...pidsInContainerCgroups(containerIdsIn(this.dataRoot)), ...pidsWithArg(`${this.dir}/`)].filter(pidAlive);
    if (await waitFor(() => leftovers().length === 0, graceMs, 100)) return;
    for (let i = 0; i < 50; i++) {
      const left = leftovers();
      if (left.length === 0) return;
      killPidsSync(left, 'SIGKILL');
      await sleep(100);
    }
  }

  async restart(): Promise<void> {
    if (this.stopping !== undefined) throw new Error('dockerd has been stopped');
    await this.terminate(60_000);
    await this.reapHelpers(15_000);
    await this.launch();
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.unregisterNs();
    if (this.running()) {
      // Killing containers first avoids dockerd's 10 s stop timeout per container.
      const ps = await this.docker(['ps', '-q'], { allowFail: true, timeoutMs: 10_000 });
      const ids = ps.stdout.split('\n').filter((s) => s !== '');
      if (ps.code === 0 && ids.length > 0) {
        await this.docker(['kill', ...ids], { allowFail: true, timeoutMs: 20_000 });
      }
      await this.terminate(30_000);
    }
    await this.reapHelpers(5000);
    unmountUnderSync(this.dir);
    removeContainerCgroupsSync(containerIdsIn(this.dataRoot));
    await rm(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    const problems: string[] = [];
    const mounts = mountsUnder(this.dir);
    if (mounts.length > 0) problems.push(`mounts left: ${mounts.join(', ')}`);
    const pids = pidsWithArg(`${this.dir}/`).filter(pidAlive);
    if (pids.length > 0) problems.push(`processes left: ${pids.join(', ')}`);
    if (problems.length > 0) throw new Error(`stopping dockerd in ${this.ns.name}: ${problems.join('; ')}`);
    this.unregisterExit();
  }
}

/** Start a private dockerd inside `ns`; resolves once `docker version` answers. */
export async function startDockerd(ns: Netns, opts: StartDockerdOptions = {}): Promise<Dockerd> {
  if (ns.destroyed) throw new Error(`netns ${ns.name} has been destroyed`);
  const dir = await mkdtemp(LAB_TMP_PREFIX);
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  await mkdir(join(dir, 'client'));
  let configFile = opts.configFile;
  if (configFile === undefined) {
    configFile = join(dir, 'daemon.json');
    // dockerd 20.10 otherwise creates /etc/docker/key.json (its "trust key") on the
    // machine; there is no flag for it, only this config key.
    const json: Record<string, unknown> = { ...(opts.daemonJson ?? {}) };
    if (!('deprecated-key-path' in json)) json['deprecated-key-path'] = join(dir, 'key.json');
    await writeFile(configFile, `${JSON.stringify(json, null, 2)}\n`);
  }
  const flags: string[] = [];
  const driver = opts.storageDriver ?? process.env['HOSTALIAS_LAB_STORAGE_DRIVER'];
  if (driver !== undefined && driver !== '') flags.push('--storage-driver', driver);
  flags.push(...(opts.extraArgs ?? []));
  const d = new DockerdImpl(ns, dir, configFile, flags, opts.startTimeoutMs ?? 60_000);
  try {
    await d.launch();
  } catch (e) {
    await d.stop().catch(() => undefined);
    throw e;
  }
  return d;
}

/** IPv4 gateway of a docker network ('bridge' = docker0), i.e. the namespace's address on it. */
export async function networkGateway(d: Dockerd, network = 'bridge'): Promise<string> {
  const ipv4 = (s: string): string | undefined =>
    s
      .trim()
      .split(/\s+/)
      .find((w) => /^\d+\.\d+\.\d+\.\d+$/.test(w));
  const r = await d.docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Gateway}} {{end}}', network]);
  const gw = ipv4(r.stdout);
  if (gw !== undefined) return gw;
  // dockerd 20.10 leaves IPAM.Config[].Gateway empty for the default bridge: read the
  // address of the bridge interface inside the namespace instead.
  const dev = await bridgeInterface(d, network);
  const a = await d.ns.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', dev]);
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(a.stdout);
  if (m?.[1] === undefined) throw new Error(`network ${network} (${dev}) has no IPv4 address: ${a.stdout}`);
  return m[1];
}

/** Linux bridge behind a docker bridge network: docker0 for 'bridge', br-<id12> for user networks. */
export async function bridgeInterface(d: Dockerd, network = 'bridge'): Promise<string> {
  const r = await d.docker(['network', 'inspect', '--format', '{{.Driver}} {{.Id}} {{index .Options "com.docker.network.bridge.name"}}', network]);
  const [driver, id, name] = r.stdout.trim().split(' ');
  if (driver !== 'bridge' || id === undefined) throw new Error(`network ${network} is not a bridge network: ${r.stdout}`);
  return name !== undefined && name !== '' && name !== '<no value>' ? name : `br-${id.slice(0, 12)}`;
}

/* ------------------------------------------------------------------ image */

/** Where Debian's busybox-static lives. */
export const BUSYBOX_PATH = '/bin/busybox';

/**
 * Import a tiny image: /bin/busybox (Debian's static build) with a symlink for every
 * applet (sh, nc, wget, nslookup, ip, ...), /etc/passwd+group, and empty /tmp /proc
 * /sys /dev /run /var /root. CMD ["/bin/sh"]. No registry needed. Skips the import
 * if `tag` already exists in this daemon. Returns the tag.
 */
export async function buildBusyboxImage(d: Dockerd, tag = 'hostalias-busybox:test'): Promise<string> {
  const have = await d.docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFail: true, timeoutMs: 30_000 });
  if (have.code === 0) return tag;
  const work = await mkdtemp(`${LAB_TMP_PREFIX}img-`);
  try {
    const tarPath = await writeBusyboxRootfsTar(work);
    await d.docker(['import', '--change', 'CMD ["/bin/sh"]', tarPath, tag], { timeoutMs: 120_000 });
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Writes the busybox rootfs described above as WORK/rootfs.tar (for `docker import` / `podman import`). */
export async function writeBusyboxRootfsTar(work: string): Promise<string> {
  return tarRootfs(await writeBusyboxRootfs(work), join(work, 'rootfs.tar'));
}

/** The lab's busybox root filesystem in WORK/rootfs (returned); WORK is marked as this process's. */
export async function writeBusyboxRootfs(work: string): Promise<string> {
  await writeFile(join(work, 'owner.pid'), `${process.pid}\n`);
  const root = join(work, 'rootfs');
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'run', 'var', 'root', 'usr/bin', 'sbin']) {
    await mkdir(join(root, sub), { recursive: true });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  await copyFile(BUSYBOX_PATH, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  const list = await execArgv([BUSYBOX_PATH, '--list']);
  for (const applet of list.stdout.split('\n')) {
    if (applet === '' || applet === 'busybox' || applet.includes('/')) continue;
    await symlink('busybox', join(root, 'bin', applet));
  }
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return root;
}

/** Packs a root filesystem folder as an image tar owned by root, what `docker import` takes. */
export async function tarRootfs(root: string, tarPath: string): Promise<string> {
  await execArgv(['tar', '-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tarPath, '.']);
  await chmod(tarPath, 0o644);
  return tarPath;
}

/** Debian packages that provide what the lab runs (for CI's install step). */
export const LAB_DEBIAN_PACKAGES = ['docker.io', 'busybox-static', 'iproute2', 'iptables', 'util-linux', 'tar'] as const;

/**
 * What is missing on this machine for the docker lab (empty = ready): root, the
 * commands it runs and Debian's static busybox.
 */
export function labPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0)');
  for (const cmd of ['ip', 'nsenter', 'dockerd', 'containerd', 'containerd-shim-runc-v2', 'runc', 'docker', 'tar', 'umount']) {
    if (which(cmd, `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`) === undefined) missing.push(cmd);
  }
  if (which(BUSYBOX_PATH) === undefined) missing.push(`${BUSYBOX_PATH} (busybox-static)`);
  return missing;
}
