/**
 * The engine's state store: state.json (what hostalias installed, written only after a plan was
 * applied in full) and intent.json (a change in flight, written durably before its first step).
 * The only code that reads or writes them; model/state.ts and model/intent.ts hold their types,
 * schemas and pure parsers.
 */
import type { Files } from '../model/files.js';
import { HostaliasError } from '../model/errors.js';
import { INTENT_PATH, parseIntent, type Intent } from '../model/intent.js';
import { parseState, STATE_DIR, STATE_PATH, type State } from '../model/state.js';
import { defaultFix, type FixCommand } from '../model/invocation.js';

/**
 * Reads and validates state.json: every value is checked again as the command line would check
 * it (a name with a newline put an extra line into /etc/hosts). Throws
 * CorruptStateError for a file that isn't valid JSON or doesn't match the schema.
 */
export async function loadState(fs: Files, hostalias: FixCommand = defaultFix): Promise<State | null> {
  const text = await fs.read(STATE_PATH);
  if (text === null) return null;
  return parseState(text, fs.resolve(STATE_PATH), hostalias);
}

export async function saveState(fs: Files, state: State | null): Promise<void> {
  if (state === null) await fs.remove(STATE_PATH);
  else await fs.write(STATE_PATH, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/**
 * The interrupted change's record, or null. A damaged record is `unknown`: the caller falls back
 * to hostalias's markers, which need no record.
 */
export async function loadIntent(fs: Files): Promise<Intent | 'unknown' | null> {
  const text = await fs.read(INTENT_PATH);
  return text === null ? null : parseIntent(text);
}
/** Writes the record durably (SystemFs.write fsyncs the file and its directory). */
export async function saveIntent(fs: Files, intent: Intent): Promise<void> {
  try {
    await fs.write(INTENT_PATH, `${JSON.stringify(intent, null, 2)}\n`, 0o600);
  } catch (err) {
    throw new HostaliasError(
      'failed',
      `recording the change before making it (${fs.resolve(INTENT_PATH)}): ${(err as Error).message}; nothing was changed`,
      `free space or fix ${fs.resolve(STATE_DIR)}, then run it again`,
      { cause: err },
    );
  }
}

export async function clearIntent(fs: Files): Promise<void> {
  await fs.remove(INTENT_PATH);
}
