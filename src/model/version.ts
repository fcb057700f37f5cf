/** This release (package.json's version; a unit test keeps the two equal). Names the installed copy. */
export const VERSION = '0.1.0';

/**
 * The one reading of dotted version numbers ("20.10.24+dfsg1", "1.42.4-1.fc38", "14", "v2.1"):
 * the first run of digits and dots. Null when there is none ("unknown"). Pure.
 */
export function parseVersion(text: string): number[] | null {
  const m = /\d+(?:\.\d+)*/.exec(text);
  return m ? m[0].split('.').map(Number) : null;
}

/** Negative, zero or positive as a is older than, equal to or newer than b; missing parts count as 0. Pure. */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** `version` is `min` or newer; false when `version` has no number in it. Pure. */
export function versionAtLeast(version: string, min: string): boolean {
  const v = parseVersion(version);
  const m = parseVersion(min);
  return v !== null && m !== null && compareVersions(v, m) >= 0;
}
