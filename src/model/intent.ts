import * as v from 'valibot';
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
 * Parses intent.json's text: the record, or `unknown` for a damaged one (the caller falls back to
 * hostalias's markers, which need no record). Pure.
 */
export function parseIntent(text: string): Intent | 'unknown' {
  try {
    const result = v.safeParse(IntentSchema, JSON.parse(text));
    return result.success ? (result.output as Intent) : 'unknown';
  } catch {
    return 'unknown';
  }
}
