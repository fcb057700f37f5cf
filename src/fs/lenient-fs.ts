import { SystemFs } from './system-fs.js';

/** An error of the file system that says the caller may not read (not root). */
function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * A SystemFs for a dry run without root: a file it may not read (firewall.json, the journal are
 * root's, mode 0600) reads as absent instead of failing the whole run, and its path is added to
 * `denied`, so the plan can say what it could not read. Only for planning: a change never runs
 * on it (converge applies nothing in a dry run).
 */
export class LenientFs extends SystemFs {
  constructor(
    root: string,
    readonly denied: Set<string>,
  ) {
    super(root);
  }

  private async orDenied<T>(path: string, read: () => Promise<T>, absent: T): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!isDenied(err)) throw err;
      this.denied.add(this.resolve(path));
      return absent;
    }
  }

  override readBytes(path: string): Promise<Buffer | null> {
    return this.orDenied(path, () => super.readBytes(path), null);
  }

  override mode(path: string): Promise<number | null> {
    return this.orDenied(path, () => super.mode(path), null);
  }

  override exists(path: string): Promise<boolean> {
    return this.orDenied(path, () => super.exists(path), false);
  }

  override readLink(path: string): Promise<string | null> {
    return this.orDenied(path, () => super.readLink(path), null);
  }

  override list(path: string): Promise<string[]> {
    return this.orDenied(path, () => super.list(path), []);
  }
}
