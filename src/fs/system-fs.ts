import { appendFile, chmod, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * The one gateway to system files. Every path is absolute as on the target system and is
 * resolved under `root` (like `systemctl --root`), so tests and image builders work in a folder.
 * Writes are atomic: temp file, fsync, rename, fsync of the directory.
 */
export class SystemFs {
  readonly root: string;
  constructor(root = '/') {
    this.root = resolve(root);
  }

  get isRooted(): boolean {
    return this.root !== '/';
  }

  resolve(path: string): string {
    return join(this.root, path);
  }

  /** File contents, or null when the file (or a parent) does not exist or is not a regular file. */
  async read(path: string): Promise<string | null> {
    try {
      return await readFile(this.resolve(path), 'utf8');
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await lstat(this.resolve(path));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async readLink(path: string): Promise<string | null> {
    try {
      return await readlink(this.resolve(path));
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return null;
      throw err;
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      return (await readdir(this.resolve(path))).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async write(path: string, content: string, mode = 0o644): Promise<void> {
    const target = this.resolve(path);
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${process.pid}.${Date.now()}.hostalias.tmp`);
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await chmod(temp, mode); // open()'s mode is masked by the umask
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  /** Appends to a log file (the journal); not atomic, never used for configuration. */
  async append(path: string, text: string): Promise<void> {
    const target = this.resolve(path);
    await mkdir(dirname(target), { recursive: true });
    await appendFile(target, text, { mode: 0o600 });
  }

  /** Removes a file or symlink; "already gone" is success. */
  async remove(path: string): Promise<void> {
    await rm(this.resolve(path), { force: true });
  }

  async symlink(path: string, target: string): Promise<void> {
    const link = this.resolve(path);
    await mkdir(dirname(link), { recursive: true });
    await rm(link, { force: true });
    await symlink(target, link);
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

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
