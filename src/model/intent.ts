import * as v from 'valibot';
import type { SystemFs } from '../fs/system-fs.js';
import { HostaliasError } from './errors.js';
import { StateSchema } from './state-schema.js';
import { STATE_DIR, type State } from './state.js';

export const INTENT_PATH = `${STATE_DIR}/intent.json`;

/**
 * What a change is about to do, written durably (fsync) before its first step and removed once
 * its state is recorded or it was rolled back cleanly. Found at the start of a run, it
 * means the last change was interrupted (killed, power cut, a rollback that failed): `down`
 * removes what either side of it could have installed, `up` plans from `next` so what the
 * interrupted change did is finished or undone.
 */
export interface Intent {
  version: 1;
  /** The journal's name of the change (`up`, `down`, `expose`, …). */
  label: string;
  startedAt: string;
  pid: number;
  /** The recorded state before the change. */
  previous: State | null;
  /** The state the change converges to (null: down). */
  next: State | null;
  /**
   * States of earlier interrupted changes that this one is still clearing up (their installs may
   * be on the system too): finishing a change plans from each in turn, and `down` removes them.
   */
  also?: State[];
  /** The directories it writes in, swept for its temp files after a crash. */
  dirs: string[];
  /** The steps, as the journal names them, for the user reading the file. */
  steps: string[];
}

const IntentSchema = v.object({
  version: v.literal(1),
  label: v.pipe(v.string(), v.maxLength(64)),
  startedAt: v.string(),
  pid: v.pipe(v.number(), v.integer()),
  previous: v.nullable(StateSchema),
  next: v.nullable(StateSchema),
  also: v.optional(v.array(StateSchema)),
  dirs: v.array(
    v.pipe(
      v.string(),
      v.startsWith('/'),
      v.check((s) => !s.split('/').includes('..'), 'no ".." in a path'),
    ),
  ),
  steps: v.array(v.string()),
});

/**
 * The interrupted change's record, or null. A damaged record is `unknown`: the caller falls back
 * to hostalias's markers, which need no record.
 */
export async function loadIntent(fs: SystemFs): Promise<Intent | 'unknown' | null> {
  const text = await fs.read(INTENT_PATH);
  if (text === null) return null;
  try {
    const result = v.safeParse(IntentSchema, JSON.parse(text));
    return result.success ? (result.output as Intent) : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Writes the record durably (SystemFs.write fsyncs the file and its directory). */
export async function saveIntent(fs: SystemFs, intent: Intent): Promise<void> {
  try {
    await fs.write(INTENT_PATH, `${JSON.stringify(intent, null, 2)}\n`, 0o600);
  } catch (err) {
    throw new HostaliasError(
      'failed',
      `recording the change before making it (${fs.resolve(INTENT_PATH)}): ${(err as Error).message}; nothing was changed`,
      `free space or fix ${fs.resolve(STATE_DIR)}, then run it again`,
    );
  }
}

export async function clearIntent(fs: SystemFs): Promise<void> {
  await fs.remove(INTENT_PATH);
}
