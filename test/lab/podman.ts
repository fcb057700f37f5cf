/**
 * Podman in a lab network namespace, rootful or rootless.
 *
 * Rootful: `nsenter --net=NS podman …` (not `ip netns exec`, which remounts /sys and breaks
 * cgroups). Rootless: an unprivileged user made for the test (`useradd`, Debian's uidmap gives it
 * a /etc/subuid range), `nsenter --net=NS su - USER -c "podman …"`; its containers reach the host
 * through slirp4netns, which connects from the namespace's own stack. Everything Podman keeps —
 * images (vfs), run state, CNI network configs, the user's home — lives in one /tmp/hal-pm-…
 * folder; this sandbox lacks CAP_SYS_RESOURCE, so the default rlimits are lowered in a
 * CONTAINERS_CONF of our own. stop() kills the engine's processes by PID (the rootless pause
 * process ignores SIGTERM), unmounts, deletes the user and the folder.
 */
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { shellQuote } from '../../src/model/shell.js';
import { LAB_TMP_PREFIX, registerExitCleanup, unmountUnderSync } from './cleanup.js';
import { createLabUser, type LabUser } from './lab-user.js';
import { writeBusyboxRootfsTar } from './dockerd.js';
import { execArgv, which, type ExecOptions, type ExecResult } from './exec.js';
import type { Netns } from './netns.js';

export interface Podman {
  readonly ns: Netns;
  readonly rootless: boolean;
  /** The unprivileged user running it (rootless), else null. */
  readonly user: string | null;
  readonly dir: string;
  /** CONTAINERS_CONF and CONTAINERS_STORAGE_CONF (and XDG_RUNTIME_DIR when rootless). */
  readonly vars: Record<string, string>;
  /** Runs argv as the engine's user, with `vars`, inside the namespace. */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  podman(args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** The busybox image, imported (see dockerd.ts). */
  readonly image: string;
  stop(): Promise<void>;
}

/** What is missing here for the Podman lab (empty = ready). */
export function podmanPrerequisites(rootless: boolean): string[] {
  const path = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`;
  const need = ['podman', 'conmon', 'nsenter', ...(rootless ? ['su', 'useradd', 'userdel', 'newuidmap', 'slirp4netns'] : [])];
  return need.filter((c) => which(c, path) === undefined);
}

async function hardNofile(): Promise<string> {
  return (await execArgv(['sh', '-c', 'ulimit -Hn'])).stdout.trim();
}

/** Starts nothing (Podman is daemonless): prepares config, storage, the user, and imports busybox. */
export interface StartPodmanOptions {
  rootless: boolean;
  /**
   * Where the lab's containers.conf is written and CONTAINERS_CONF points (default: the lab
   * folder's): e.g. a --files-root copy of /etc/containers/containers.conf, or the rootless user's
   * ~/.config/containers/containers.conf (given its home; made the user's), so Podman reads the
   * very file hostalias edits. Podman reads only the CONTAINERS_CONF file when it is set.
   */
  containersConf?: (home: string) => string;
}

export async function startPodman(ns: Netns, opts: StartPodmanOptions): Promise<Podman> {
  const dir = await mkdtemp(`${LAB_TMP_PREFIX}pm-`);
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  let labUser: LabUser | null = null;
  const home = join(dir, 'home');
  const nofile = await hardNofile();
  const conf = [
    '[containers]',
    `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=1000:1000"]`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = "${join(opts.rootless ? home : dir, 'tmp')}"`,
    '[network]',
    `network_config_dir = "${join(opts.rootless ? home : dir, 'networks')}"`,
    '',
  ].join('\n');
  const base = opts.rootless ? home : dir;
  const storage = ['[storage]', 'driver = "vfs"', `graphroot = "${join(base, 'graph')}"`, `runroot = "${join(base, 'run', 'storage')}"`, ''].join('\n');
  const unregister = registerExitCleanup(() => unmountUnderSync(dir));
  const stop = async () => {
    unregister();
    if (!opts.rootless)
      await execArgv(
        ['nsenter', `--net=${ns.path}`, '--', 'env', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), 'podman', 'rm', '--all', '--force', '--time', '0'],
        { allowFail: true, timeoutMs: 60_000 },
      );
    await labUser?.remove();
    unmountUnderSync(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const confPath = opts.containersConf?.(home) ?? join(dir, 'containers.conf');
  const vars: Record<string, string> = { CONTAINERS_CONF: confPath, CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  try {
    await writeFile(join(dir, 'storage.conf'), storage, { mode: 0o644 });
    if (opts.rootless) {
      labUser = await createLabUser('halpm', home);
      vars['XDG_RUNTIME_DIR'] = labUser.runtimeDir;
    }
    await mkdir(dirname(confPath), { recursive: true });
    await writeFile(confPath, conf, { mode: 0o644 });
    if (labUser && confPath.startsWith(`${home}/`)) {
      // The user's own file, as podman and `up --dns-user` expect it (every folder from the home down).
      const { uid } = labUser;
      for (let p = confPath; p !== home; p = dirname(p)) await chown(p, uid, uid);
    }
    const user = labUser?.name ?? null;
    const exec = (argv: readonly string[], o: ExecOptions = {}) => {
      const env = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
      const inner = ['env', ...env, ...argv];
      return ns.exec(user ? ['su', '-', user, '-c', shellQuote(inner)] : inner, { timeoutMs: 120_000, ...o });
    };
    const work = await mkdtemp(`${LAB_TMP_PREFIX}pmimg-`);
    try {
      await chmod(work, 0o755);
      const tar = await writeBusyboxRootfsTar(work);
      await exec(['podman', 'import', '--quiet', '--change', 'CMD ["/bin/sh"]', tar, 'hostalias-busybox:test']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return {
      ns,
      rootless: opts.rootless,
      user,
      dir,
      vars,
      exec,
      podman: (args, o) => exec(['podman', ...args], o),
      image: 'localhost/hostalias-busybox:test',
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
