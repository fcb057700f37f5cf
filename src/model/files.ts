/**
 * The contract of the file gateway (fs/system-fs.ts's SystemFs implements it; tests root it in a
 * temp folder). Paths are the system's own (`/etc/hosts`), resolved under `root`. Only the engine's
 * apply and state store, and the few readers named in the README, call its writing methods.
 */
export interface Files {
  /** The folder paths resolve under (`/`, or --root / --files-root). */
  readonly root: string;
  readonly isRooted: boolean;
  /** The real path of `path` under `root`. Pure. */
  resolve(path: string): string;
  /** True for paths inside a directory hostalias owns (where no link is followed). Pure. */
  owns(path: string): boolean;
  /** File contents, or null when the file (or a parent) does not exist or is a directory. */
  read(path: string): Promise<string | null>;
  readBytes(path: string): Promise<Buffer | null>;
  /** Permission bits of a regular file, or null when there is none. */
  mode(path: string): Promise<number | null>;
  exists(path: string): Promise<boolean>;
  readLink(path: string): Promise<string | null>;
  list(path: string): Promise<string[]>;
  /** Writes a whole file: in place for a file hostalias edits, atomically with `mode` for anything else. */
  write(path: string, content: string | Buffer, mode?: number): Promise<void>;
  /** Appends a line to a log file (the journal), fsynced. */
  append(path: string, text: string): Promise<void>;
  /** Removes a file or an empty folder; already gone is success. */
  remove(path: string): Promise<void>;
  /** Removes hostalias's temp files left in `dir` by a crash. */
  sweepTemps(dir: string): Promise<void>;
  /**
   * Copies a file of the running system (not under root) to `path` with `mode`, from one
   * descriptor checked as it was opened; returns the SHA-256 of what it installed and, given
   * `sha256`, refuses other bytes.
   */
  installFrom(from: string, path: string, mode: number, sha256?: string): Promise<string>;
  symlink(path: string, target: string): Promise<void>;
  /** Where `path` is, with every link on the way followed inside the root (the path for a command that opens it). */
  real(path: string): Promise<string>;
  ensureDir(dir: string): Promise<void>;
}
