/**
 * Reads live kernel state from /proc: sockets and the processes that own them. /proc describes the
 * running kernel, never a --root folder, so it is read through the live readers of src/fs, not a
 * rooted SystemFs. /proc/net is per network namespace of this process: inside `nsenter --net` it lists
 * that namespace's sockets.
 */
import { endianness } from 'node:os';
import { listLiveDir, readLiveFile, readLiveLink } from '../../../fs/system-fs.js';
import { parseProcNet, socketInode, type Listener } from './proc-net.js';

const FILES: ReadonlyArray<[string, 'tcp' | 'udp', 4 | 6]> = [
  ['/proc/net/tcp', 'tcp', 4],
  ['/proc/net/tcp6', 'tcp', 6],
  ['/proc/net/udp', 'udp', 4],
  ['/proc/net/udp6', 'udp', 6],
];

/** Every TCP and UDP listener of this network namespace. Read-only, no root needed. */
export async function readListeners(): Promise<Listener[]> {
  const le = endianness() === 'LE';
  const all = await Promise.all(
    FILES.map(async ([path, proto, family]) => {
      const text = await readLiveFile(path);
      return text === null ? [] : parseProcNet(text, proto, family, le);
    }),
  );
  return all.flat();
}

/**
 * Socket inode → process name (`comm`, with the PID), for the fds this user may read. Without root
 * only the caller's own processes are visible; the others stay unnamed rather than failing.
 */
export async function readSocketOwners(inodes: ReadonlySet<number>): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  const comms = new Map<number, Promise<string | null>>();
  for (const [inode, pid] of await readSocketPids(inodes)) {
    if (!comms.has(pid))
      comms.set(
        pid,
        readLiveFile(`/proc/${pid}/comm`).then((c) => c?.trim() ?? null),
      );
    const comm = await comms.get(pid);
    owners.set(inode, comm ? `${comm}[${pid}]` : `pid ${pid}`);
  }
  return owners;
}

/** Socket inode → the PID of a process holding it, for the fds this user may read. Read-only. */
export async function readSocketPids(inodes: ReadonlySet<number>): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  if (inodes.size === 0) return found;
  const pids = (await listLiveDir('/proc')).filter((e) => /^\d+$/.test(e));
  await Promise.all(
    pids.map(async (pid) => {
      for (const fd of await listLiveDir(`/proc/${pid}/fd`)) {
        const inode = socketInode((await readLiveLink(`/proc/${pid}/fd/${fd}`)) ?? '');
        if (inode !== null && inodes.has(inode) && !found.has(inode)) found.set(inode, Number(pid));
      }
    }),
  );
  return found;
}

/**
 * The `hostalias forward` processes listening on `ip` (a relay started by hand in a terminal, or one
 * a service manager did not stop), with their port and command line. Read-only; without root
 * only this user's own processes are seen.
 */
export async function readRelaysOn(ip: string): Promise<Array<{ pid: number; port: number; proto: 'tcp' | 'udp'; argv: string[] }>> {
  const on = (await readListeners()).filter((l) => l.address === ip || l.address === `::ffff:${ip}`);
  const pids = await readSocketPids(new Set(on.map((l) => l.inode)));
  const relays = await Promise.all(
    on.map(async (l) => {
      const pid = pids.get(l.inode);
      if (pid === undefined) return null;
      const argv = ((await readLiveFile(`/proc/${pid}/cmdline`)) ?? '').split('\0').filter((a) => a !== '');
      const cli = argv.findIndex((a) => /(^|\/)(main\.js|hostalias)$/.test(a));
      return cli >= 0 && argv[cli + 1] === 'forward' ? { pid, port: l.port, proto: l.proto, argv } : null;
    }),
  );
  return relays.filter((r): r is NonNullable<typeof r> => r !== null);
}

/** Command lines of every process whose name is `name`, as argv arrays. Read-only. */
export async function readProcessArgv(name: string): Promise<Array<{ pid: number; argv: string[] }>> {
  const pids = (await listLiveDir('/proc')).filter((e) => /^\d+$/.test(e));
  const found = await Promise.all(
    pids.map(async (pid) => {
      const comm = (await readLiveFile(`/proc/${pid}/comm`))?.trim();
      if (comm !== name) return null;
      const raw = await readLiveFile(`/proc/${pid}/cmdline`);
      return raw === null ? null : { pid: Number(pid), argv: raw.split('\0').filter((a) => a !== '') };
    }),
  );
  return found.filter((f): f is { pid: number; argv: string[] } => f !== null);
}
