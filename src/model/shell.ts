/** A word any shell (and systemd) reads as itself, with no quoting. Pure. */
export function isPlainWord(word: string): boolean {
  return /^[\w@%+=:,./-]+$/.test(word);
}

/** Quotes an argv for display as one POSIX shell line (`$ ip addr replace …`); never executed. Pure. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (isPlainWord(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
