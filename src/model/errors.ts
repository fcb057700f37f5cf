/**
 * The only error type the library throws. `code` is stable and maps to a documented exit status;
 * `fix` is the exact command or action that resolves it, shown by the CLI after the message.
 */
export type ErrorCode =
  | 'usage' // bad input: nothing was changed
  | 'conflict' // the address clashes with the system's own configuration
  | 'permission' // needs root
  | 'locked' // another hostalias run holds the lock
  | 'not-present' // status: the alias is not on lo
  | 'unsupported' // this platform / engine / version can't do what was asked
  | 'failed'; // a step failed part-way; what was done has been rolled back

export const EXIT_CODES: Readonly<Record<ErrorCode | 'ok', number>> = {
  ok: 0,
  failed: 1,
  usage: 2,
  conflict: 3,
  permission: 4,
  locked: 5,
  'not-present': 6,
  unsupported: 7,
};

export class HostaliasError extends Error {
  override readonly name = 'HostaliasError';
  /** Thrown before anything changed only because the caller is not root: the CLI may re-run itself with sudo. */
  readonly needsRoot: boolean;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fix?: string,
    options?: { cause?: unknown; needsRoot?: boolean },
  ) {
    super(message, options);
    this.needsRoot = options?.needsRoot ?? false;
  }
}

/**
 * `instanceof` by name: the CLI's command files are separate bundles, each with its own copy of
 * this class (scripts/bundle.mjs), so main.js must not rely on class identity.
 */
export function isHostaliasError(err: unknown): err is HostaliasError {
  return err instanceof Error && err.name === 'HostaliasError' && typeof (err as HostaliasError).code === 'string';
}

export function usageError(message: string, fix?: string): HostaliasError {
  return new HostaliasError('usage', message, fix);
}

export function describeCause(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Whether `err` (or the error it wraps) is the file system's "no space left" (ENOSPC, or a quota: EDQUOT). Pure. */
export function isNoSpace(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | null | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
  }
  return false;
}
