/** `fn` asked at most once: every call shares the first call's promise (doctor's per-run facts). Pure. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
