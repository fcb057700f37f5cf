import type { Files } from '../model/files.js';
import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readdir, readFile, readlink, realpath, rename, rm, rmdir, stat, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { decodeBytes, encodeBytes } from './bytes.js';
import { findTool } from './which.js';

const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_APPEND, O_NONBLOCK } = constants;

/**
 * Directories hostalias owns outright. Inside them no symbolic link is ever followed (a link
 * there is refused, naming the path), so whoever could plant one can't redirect a root write.
 */
const OWNED_DIRS: readonly string[] = ['/var/lib/hostalias', '/etc/hostalias', '/usr/local/lib/hostalias'];

/** Directories removed again when they become empty (hostalias made them or they only held its files). */
const PRUNED_WHEN_EMPTY: readonly string[] = ['/etc/hostalias', '/var/lib/hostalias/backups', '/etc/systemd/system/multi-user.target.wants'];

/** Links followed on the way to one path under a root before it counts as a loop (Linux's own limit). */
const MAX_LINKS = 40;

/** Mode of every directory hostalias creates, set explicitly so the umask never widens it. */
const DIR_MODE = 0o755;

/**
 * The one gateway to system files. Every path is absolute as on the target system and is
 * resolved under `root` (like `systemctl --root`), so tests and image builders work in a folder.
 *
 * How it writes as root:
 * - Contents are bytes: `read` decodes with surrogate escapes and `write` encodes them back
 *   (src/fs/bytes.ts), so bytes that are not UTF-8 survive an edit.
 * - A file hostalias *edits* (it exists outside OWNED_DIRS: /etc/hosts, daemon.json,
 *   /etc/network/interfaces, …) is rewritten in place: same inode, so its mode, owner, xattrs,
 *   ACLs and SELinux label, its hard links, a bind mount over it (a container's /etc/hosts) and
 *   a symlink pointing at it are all kept. A symlinked /etc/hosts is thus edited at its target.
 *   If the write fails part-way (ENOSPC), the old bytes are written back before the error.
 * - Any other file is written to a fresh temp file with an unpredictable name, opened
 *   O_CREAT|O_EXCL|O_NOFOLLOW with an explicit mode (fchmod: the umask can't widen it), fsynced,
 *   renamed over the target (which replaces a symlink there instead of following it), and the
 *   directory is fsynced. The temp file is removed on every failure.
 * - Directories are created with mode 0755 whatever the umask.
 * - Nothing that is not a regular file is read or appended to (a FIFO at journal.log would
 *   block forever): it is refused, naming the path.
 * A parent directory writable by an attacker can still be swapped between check and use (Node
 * has no openat); hostalias's own directories are created 0755 root-owned so none is.
 */
export class SystemFs implements Files {
  readonly root: string;
  constructor(root = '/') {
    this.root = resolve(root);
  }

  get isRooted(): boolean {
    return this.root !== '/';
  }

  /** `path` under the root as written, for messages and for what is not a file access. */
  resolve(path: string): string {
    return join(this.root, path);
  }

  /**
   * Where `path` is under the root, as the target system itself would resolve it (the semantics of
   * openat2's RESOLVE_IN_ROOT, or `systemctl --root`): every symbolic link on the way is followed
   * inside the root (an absolute target names a path under the root, `..` stops at the root), so no
   * link in an image folder leads a write out of it. For commands given a file under the root (the
   * ruleset `nft -f` loads, the copied node a check runs). Without a root, the path itself.
   */
  async real(path: string): Promise<string> {
    return this.inRoot(path, true);
  }

  /**
   * `path` under the root with each link on the way resolved inside the root (see real); the last
   * component is followed only with `followLast` (a file edited in place, a folder listed), not
   * where the link itself is what is read, replaced or removed. A loop is refused. Between this
   * and the access a component could still be swapped by whoever can write the folder (Node has
   * no openat2); under the real root, links are the system's own and followed by the kernel.
   */
  private async inRoot(path: string, followLast: boolean): Promise<string> {
    if (!this.isRooted) return this.resolve(path);
    const todo = posix
      .normalize(`/${path}`)
      .split('/')
      .filter((p) => p !== '' && p !== '.');
    const done: string[] = [];
    let links = 0;
    let exists = true;
    while (todo.length > 0) {
      const part = todo.shift() as string;
      if (part === '..') {
        done.pop(); // at the root, `..` is the root
        continue;
      }
      if (!exists || (todo.length === 0 && !followLast)) {
        done.push(part);
        continue;
      }
      const full = join(this.root, ...done, part);
      const target = await readlink(full).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EINVAL') return null; // not a link
        if (isMissing(err)) {
          exists = false; // nothing below it exists either: no more links to follow
          return null;
        }
        throw err;
      });
      if (target === null) {
        done.push(part);
        continue;
      }
      if (++links > MAX_LINKS) {
        throw new UnsafePathError(
          `refusing to use ${this.resolve(path)}: more than ${MAX_LINKS} symbolic links on the way (a loop, inside ${this.root})`,
          `fix the links under ${this.root} (ls -l ${full})`,
        );
      }
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    }
    return join(this.root, ...done);
  }

  /** True for paths inside a directory hostalias owns (where no link is followed). */
  owns(path: string): boolean {
    const p = posix.normalize(path);
    return OWNED_DIRS.some((d) => p === d || p.startsWith(`${d}/`));
  }

  /** File contents, or null when the file (or a parent) does not exist or is a directory. */
  async read(path: string): Promise<string | null> {
    const bytes = await this.readBytes(path);
    return bytes === null ? null : decodeBytes(bytes);
  }

  async readBytes(path: string): Promise<Buffer | null> {
    if (this.owns(path) && !(await this.checkOwnedParents(path))) return null;
    const full = await this.inRoot(path, !this.owns(path));
    let handle: FileHandle;
    try {
      // Under a root every link on the way was followed inside it already: a link still there is a swap.
      handle = await open(full, O_RDONLY | O_NONBLOCK | (this.owns(path) || this.isRooted ? O_NOFOLLOW : 0));
    } catch (err) {
      if (isMissing(err)) return null;
      throw this.explain(err, full);
    }
    try {
      const st = await handle.stat();
      if (st.isDirectory()) return null;
      if (!st.isFile()) throw notRegular(full, st);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  /** Permission bits of a regular file, or null when there is none. */
  async mode(path: string): Promise<number | null> {
    const st = await statOrNull(await this.inRoot(path, false), false);
    return st?.isFile() ? st.mode & 0o7777 : null;
  }

  async exists(path: string): Promise<boolean> {
    try {
      await lstat(await this.inRoot(path, false));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async readLink(path: string): Promise<string | null> {
    try {
      return await readlink(await this.inRoot(path, false));
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw err;
    }
  }

  async list(path: string): Promise<string[]> {
    if (this.owns(path) && !(await this.checkOwnedParents(`${path}/x`))) return [];
    try {
      return (await readdir(await this.inRoot(path, true))).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  /**
   * Writes `content` to `path`: in place for a file hostalias edits, atomically with `mode` for
   * anything else (see the class comment). Creates missing parents with mode 0755.
   */
  async write(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    await this.ensureDir(dirname(path));
    const bytes = typeof content === 'string' ? encodeBytes(content) : content;
    // A file hostalias edits is edited at the end of its links (inside the root, under one).
    const target = await this.inRoot(path, !this.owns(path));
    if (target !== this.resolve(path)) await this.ensureDir(dirname(target.slice(this.root.length)));
    if (!this.owns(path)) {
      const existing = await statOrNull(target);
      if (existing?.isFile()) return rewriteInPlace(target, bytes);
      if (existing && !existing.isFile()) throw notRegular(target, existing);
    }
    await this.replace(target, mode, async (temp) => {
      await writeAll(temp, bytes);
    });
  }

  /** Appends a line to a log file (the journal), fsynced; refuses a link or non-regular file there. */
  async append(path: string, text: string): Promise<void> {
    await this.ensureDir(dirname(path));
    const full = await this.inRoot(path, false);
    let handle: FileHandle;
    try {
      handle = await open(full, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    } catch (err) {
      throw this.explain(err, full);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw notRegular(full, st);
      if ((st.mode & 0o7777) !== 0o600) await handle.chmod(0o600);
      await writeAll(handle, encodeBytes(text));
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /**
   * Removes a file, a symlink or an empty directory (never a directory's contents; "already gone"
   * is success), then its directory if hostalias's and empty.
   */
  async remove(path: string): Promise<void> {
    if (this.owns(path) && !(await this.checkOwnedParents(path))) return;
    const full = await this.inRoot(path, false);
    try {
      await rm(full, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_FS_EISDIR') throw err;
      await rmdir(full);
    }
    await this.prune(path);
  }

  /** Removes the temp files an interrupted write left in `dir` (only hostalias's own names). */
  async sweepTemps(dir: string): Promise<void> {
    for (const name of await this.list(dir)) {
      if (/^\.hostalias-[0-9a-f]{24}\.tmp$/.test(name)) await rm(await this.inRoot(`${dir}/${name}`, false), { force: true });
    }
  }

  /**
   * Puts a copy of `from` (a path of the running system, never under root: the node binary and the
   * bundle this process runs from) at `path`, atomically, and returns the SHA-256 of what it
   * installed; with `sha256`, anything else is refused (the source changed since it was planned).
   * The source is opened once (O_NOFOLLOW) and everything is decided on that descriptor: it must be
   * a regular file that anyone may read (a swap toward a root-only file is never copied out
   * world-readable); the bytes come from it. A root-owned source that only root can change and
   * already has `mode` is hard-linked instead (no 100 MB copy of node per install; a package
   * upgrade replaces the file by rename, so the link keeps the old bytes) — and the link is kept
   * only if it names the inode that was checked (a path swapped after the open is not linked).
   * Anything a user could rewrite is copied: a unit running as root must not run a file its owner
   * can change.
   */
  async installFrom(from: string, path: string, mode: number, sha256?: string): Promise<string> {
    await this.ensureDir(dirname(path));
    const target = await this.inRoot(path, false);
    let source: FileHandle;
    try {
      source = await open(from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      throw this.explain(err, from);
    }
    const temp = tempName(target);
    try {
      const st = await source.stat();
      if (!st.isFile()) throw notRegular(from, st);
      if ((st.mode & 0o004) === 0) {
        throw new UnsafePathError(
          `refusing to copy ${from}: only its owner (uid ${st.uid}) or group may read it (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), and the copy would be readable by everyone`,
          `check what ${from} is: a program boot units run is readable by everyone`,
        );
      }
      const linkable = st.uid === 0 && (st.mode & 0o7777) === mode && (st.mode & 0o022) === 0;
      let digest: string;
      if (linkable && (await tryLink(from, temp)) && (await sameInode(temp, st))) {
        digest = await hashHandle(source, null);
      } else {
        await rm(temp, { force: true });
        const out = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        try {
          digest = await hashHandle(source, out);
          await out.chmod(mode); // after the bytes: never executable while half-written, and whatever the umask
          await out.sync();
        } finally {
          await out.close();
        }
      }
      if (sha256 !== undefined && digest !== sha256) {
        throw new UnsafePathError(
          `refusing to install ${from}: its bytes changed since hostalias planned the change (SHA-256 ${digest.slice(0, 12)}…, planned ${sha256.slice(0, 12)}…)`,
          `check who changed ${from}, then run hostalias again`,
        );
      }
      await rename(temp, target);
      await syncDir(dirname(target));
      return digest;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    } finally {
      await source.close();
    }
  }

  /** Points `path` at `target`, atomically (a temp link renamed over it). */
  async symlink(path: string, target: string): Promise<void> {
    await this.ensureDir(dirname(path));
    const link = await this.inRoot(path, false);
    const temp = tempName(link);
    await symlink(target, temp);
    try {
      await rename(temp, link);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(dirname(link));
  }

  /**
   * Creates `dir` and its missing parents with mode 0755 whatever the umask. Inside hostalias's
   * own directories a symlink is refused and a directory writable by others is made 0755 again.
   */
  async ensureDir(dir: string): Promise<void> {
    const parts = posix
      .normalize(dir)
      .split('/')
      .filter((p) => p !== '');
    await mkdir(this.root, { recursive: true });
    let current = '';
    for (const part of parts) {
      current = `${current}/${part}`;
      const full = await this.inRoot(current, false);
      const st = await statOrNull(full, false);
      if (st === null) {
        try {
          await mkdir(full, DIR_MODE);
          await chmod(full, DIR_MODE);
          continue;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      const now = st ?? (await lstat(full));
      if (now.isSymbolicLink()) {
        if (this.owns(current)) throw linkRefused(full);
        const target = await this.inRoot(current, true);
        // Under a root, a link to a folder the image doesn't have yet: made where the link leads, inside the root.
        if (this.isRooted && (await statOrNull(target, false)) === null) await this.ensureDir(target.slice(this.root.length) || '/');
        const followed = await stat(target);
        if (!followed.isDirectory()) throw notDirectory(full);
      } else if (!now.isDirectory()) {
        throw notDirectory(full);
      } else if (this.owns(current) && (now.mode & 0o022) !== 0) {
        await chmod(full, DIR_MODE);
      }
    }
  }

  /** Checks the owned directories above `path`: false when one is missing, throws at a link. */
  private async checkOwnedParents(path: string): Promise<boolean> {
    const owner = OWNED_DIRS.find((d) => path.startsWith(`${d}/`) || path === d);
    if (!owner) return true;
    const rest = posix
      .normalize(path)
      .slice(owner.length)
      .split('/')
      .filter((p) => p !== '');
    rest.pop();
    let current = owner;
    for (const part of [null, ...rest]) {
      if (part !== null) current = `${current}/${part}`;
      const full = await this.inRoot(current, false);
      const st = await statOrNull(full, false);
      if (st === null) return false;
      if (st.isSymbolicLink()) throw linkRefused(full);
      if (!st.isDirectory()) throw notDirectory(full);
    }
    return true;
  }

  private async prune(path: string): Promise<void> {
    const p = posix.normalize(path);
    for (const dir of PRUNED_WHEN_EMPTY) {
      if (!p.startsWith(`${dir}/`)) continue;
      await rmdir(await this.inRoot(dir, false)).catch(() => undefined); // ENOTEMPTY / ENOENT: keep it
    }
  }

  private async replace(target: string, mode: number, fill: (handle: FileHandle) => Promise<void>): Promise<void> {
    await replaceFile(target, mode, fill, { durable: true });
  }

  private explain(err: unknown, full: string): unknown {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return linkRefused(full);
    if (code === 'ENXIO')
      return new UnsafePathError(`refusing to use ${full}: it is not a regular file (a FIFO or socket)`, `remove it (sudo rm ${full}) and run hostalias again`);
    return err;
  }
}

/**
 * A path hostalias refuses to write through (a link inside its own directories, a FIFO where a
 * file should be). Not a HostaliasError: the step that hit it names what was being done; `fix`
 * says how to clear the way.
 */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  readonly code = 'EUNSAFE';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/**
 * Reads a file of the *running* system (/proc, a running daemon's own config), never under a
 * --root folder: those describe this kernel and these processes. Null when unreadable. Read-only.
 */
export async function readLiveFile(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/** Whether `path` (not followed) is the file `st` describes: same device and inode. */
async function sameInode(path: string, st: Stats): Promise<boolean> {
  const now = await lstat(path).catch(() => null);
  return now !== null && now.dev === st.dev && now.ino === st.ino;
}

/** SHA-256 of everything `source` holds from its start, copied to `out` on the way when given. */
async function hashHandle(source: FileHandle, out: FileHandle | null): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  for (let position = 0; ; ) {
    const { bytesRead } = await source.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    if (out) await writeAll(out, chunk);
    position += bytesRead;
  }
  return hash.digest('hex');
}

/**
 * SHA-256 of a file of the running system (the node binary, the bundle), read through one
 * descriptor. Read-only.
 */
export async function digestLiveFile(path: string): Promise<string> {
  const handle = await open(path, O_RDONLY | O_NONBLOCK);
  try {
    return await hashHandle(handle, null);
  } finally {
    await handle.close();
  }
}

async function tryLink(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch {
    return false; // another filesystem (EXDEV) or links not allowed: copy instead
  }
}

/** The entries of a directory of the running system (/proc), sorted; [] when unreadable. Read-only. */
export async function listLiveDir(path: string): Promise<string[]> {
  return (await readdir(path).catch(() => [] as string[])).sort();
}

/**
 * Whether the program `name` is installed: on `searchPath` (PATH) or in the standard tool folders
 * (findTool). Read-only; no process is started, so asking costs microseconds, not a fork
 * (`hostalias run` start time).
 */
export async function onPath(name: string, searchPath: string | undefined): Promise<boolean> {
  return findTool(name, searchPath) !== null;
}

/** A path of the running system with every link resolved (a Homebrew opt/ path to its Cellar file); null when it doesn't resolve. Read-only. */
export async function realLivePath(path: string): Promise<string | null> {
  return realpath(path).catch(() => null);
}

/** Where a link of the running system points (/proc/PID/fd/N); null when unreadable. Read-only. */
export async function readLiveLink(path: string): Promise<string | null> {
  return readlink(path).catch(() => null);
}

/**
 * Replaces `target` whole: a fresh file beside it (created O_EXCL|O_NOFOLLOW with `mode`), filled
 * by `fill`, renamed over it, so a reader sees the old file or the whole new one and never a link
 * planted at the temporary name. `durable` syncs the file and its folder before and after the
 * rename (a system file must survive a crash); a cache that costs one slow run when lost skips it.
 * On failure the temporary file is removed and `target` is untouched.
 */
export async function replaceFile(target: string, mode: number, fill: (handle: FileHandle) => Promise<void>, opts: { durable: boolean }): Promise<void> {
  const temp = tempName(target);
  const handle = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode & 0o7777);
  try {
    await handle.chmod(mode & 0o7777); // open()'s mode is masked by the umask
    await fill(handle);
    if (opts.durable) await handle.sync();
    await handle.close();
    await rename(temp, target);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  if (opts.durable) await syncDir(dirname(target));
}

function tempName(target: string): string {
  return join(dirname(target), `.hostalias-${randomBytes(12).toString('hex')}.tmp`);
}

async function writeAll(handle: FileHandle, bytes: Buffer, position: number | null = null): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, off, bytes.length - off, position === null ? null : position + off);
    off += bytesWritten;
  }
}

/**
 * Rewrites a regular file in place (same inode). On a failure part-way the previous bytes are
 * put back before the error is thrown, so a full disk never leaves a half-written /etc/hosts.
 */
async function rewriteInPlace(target: string, bytes: Buffer): Promise<void> {
  const handle = await open(target, O_RDWR | O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notRegular(target, st);
    const old = Buffer.alloc(st.size);
    if (st.size > 0) await handle.read(old, 0, st.size, 0);
    if (old.equals(bytes)) return;
    try {
      await writeAll(handle, bytes, 0);
      await handle.truncate(bytes.length);
      await handle.sync();
    } catch (err) {
      await writeAll(handle, old, 0)
        .then(() => handle.truncate(old.length))
        .then(() => handle.sync())
        .catch(() => undefined);
      throw err;
    }
  } finally {
    await handle.close();
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** stat (or, with `follow` false, lstat); null when the path doesn't exist. */
async function statOrNull(full: string, follow = true): Promise<Stats | null> {
  try {
    return await (follow ? stat(full) : lstat(full));
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

function linkRefused(full: string): UnsafePathError {
  return new UnsafePathError(
    `refusing to use ${full}: it is a symbolic link, and hostalias follows no link inside its own directories (it could redirect a root write to another file)`,
    `check who created it, remove it (sudo rm ${full}) and run hostalias again`,
  );
}

function notRegular(full: string, st: Stats): UnsafePathError {
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isSocket()
      ? 'a socket'
      : st.isDirectory()
        ? 'a directory'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : 'not a regular file';
  return new UnsafePathError(`refusing to use ${full}: it is ${kind}, not a regular file`, `remove it (sudo rm ${full}) and run hostalias again`);
}

function notDirectory(full: string): UnsafePathError {
  return new UnsafePathError(`refusing to use ${full}: it is not a directory`, `move it away (sudo mv ${full} ${full}.old) and run hostalias again`);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
