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
  if (inodes.size === 0) return owners;
  const pids = (await listLiveDir('/proc')).filter((e) => /^\d+$/.test(e));
  await Promise.all(
    pids.map(async (pid) => {
      const fds = await listLiveDir(`/proc/${pid}/fd`);
      let comm: string | null | undefined;
      for (const fd of fds) {
        const inode = socketInode((await readLiveLink(`/proc/${pid}/fd/${fd}`)) ?? '');
        if (inode === null || !inodes.has(inode) || owners.has(inode)) continue;
        comm ??= (await readLiveFile(`/proc/${pid}/comm`))?.trim() ?? null;
        owners.set(inode, comm ? `${comm}[${pid}]` : `pid ${pid}`);
      }
    }),
  );
  return owners;
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
