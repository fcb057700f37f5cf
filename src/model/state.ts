import { HostaliasError } from './errors.js';
import type { SystemFs } from '../fs/system-fs.js';
import { defaultDesired, type Desired, type PersistKind } from './config.js';

export const STATE_DIR = '/var/lib/hostalias';
export const STATE_PATH = `${STATE_DIR}/state.json`;
export const JOURNAL_PATH = `${STATE_DIR}/journal.log`;
export const BACKUP_DIR = `${STATE_DIR}/backups`;

export interface InstalledPersistence {
  kind: PersistKind;
  reason: string;
  /** The ip and label the artifacts were written for, so a move rewrites them. */
  ip: string;
  label: string;
}

/**
 * What hostalias has installed: the journal `down` is driven by. Written only after a plan was
 * applied in full, so it never describes a half-done change.
 */
export interface State {
  version: 1;
  desired: Desired;
  persistence: InstalledPersistence | null;
  updatedAt: string;
}

export async function loadState(fs: SystemFs): Promise<State | null> {
  const text = await fs.read(STATE_PATH);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as State;
    if (parsed.version !== 1) throw new Error(`unknown version ${String(parsed.version)}`);
    return { ...parsed, desired: { ...defaultDesired(), ...parsed.desired } };
  } catch (err) {
    throw new HostaliasError('failed', `reading ${fs.resolve(STATE_PATH)}: ${(err as Error).message}`, `inspect the file; remove it only if nothing hostalias installed is left (ip addr show dev lo)`);
  }
}

export async function saveState(fs: SystemFs, state: State | null): Promise<void> {
  if (state === null) await fs.remove(STATE_PATH);
  else await fs.write(STATE_PATH, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/** Where the backup of a system file lives, e.g. /etc/hosts → backups/etc_hosts. */
export function backupPathFor(path: string): string {
  return `${BACKUP_DIR}/${path.replace(/^\//, '').replace(/\//g, '_')}`;
}
