import { HostaliasError } from './errors.js';
import * as v from 'valibot';
import { defaultDesired, type Desired, type PersistKind } from './config.js';
import { defaultFix, type FixCommand } from './invocation.js';
import { StateSchema } from './state-schema.js';

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

/** state.json exists but can't be trusted: `down` recovers from hostalias's markers instead. */
export class CorruptStateError extends HostaliasError {
  constructor(path: string, why: string, hostalias: FixCommand = defaultFix) {
    super(
      'failed',
      `${path} is unreadable (${why}); nothing was changed`,
      `${hostalias('down')} removes everything hostalias installed without it (found by its markers), then run ${hostalias('up')} again; or put back a good copy of ${path}`,
    );
  }
}

/** Parses state.json's text; pure. Fields added since the file was written take their defaults. */
export function parseState(text: string, path = STATE_PATH, hostalias: FixCommand = defaultFix): State {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CorruptStateError(path, `not JSON: ${(err as Error).message}`, hostalias);
  }
  const obj = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  const desired =
    obj && typeof obj['desired'] === 'object' && obj['desired'] !== null ? { ...defaultDesired(), ...(obj['desired'] as object) } : obj?.['desired'];
  const result = v.safeParse(StateSchema, obj ? { ...obj, desired } : raw);
  if (!result.success) {
    const issue = result.issues[0];
    const at = issue ? v.getDotPath(issue) : null;
    throw new CorruptStateError(path, `${at ? `${at}: ` : ''}${issue?.message ?? 'does not match the schema'}`, hostalias);
  }
  return result.output as State;
}

/** Where the backup of a system file lives, e.g. /etc/hosts → backups/etc_hosts. */
export function backupPathFor(path: string): string {
  return `${BACKUP_DIR}/${path.replace(/^\//, '').replace(/\//g, '_')}`;
}
