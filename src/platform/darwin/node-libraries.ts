import { basename } from 'node:path';
import type { Context, RuntimeLibraries } from '../../model/context.js';
import { realLivePath } from '../../fs/system-fs.js';

/**
 * Where macOS's own libraries are: in the dyld shared cache, named under these folders (since
 * macOS 11 most are not even files on disk). A node linking only these starts anywhere; a copy
 * never needs them beside it.
 */
export const MACOS_LIBRARY_DIRS = ['/usr/lib/', '/System/'];

/**
 * dyld looks a library up by its leaf name in each DYLD_LIBRARY_PATH folder before the path the
 * binary names (dyld(1); Apple's "Dynamic Library Usage Guidelines": "$DYLD_LIBRARY_PATH using the
 * filename, then the given pathname"). A copy of node run with it pointing at the copy's lib/
 * folder loads the libraries copied there, whatever Homebrew removes later.
 */
export const LIBRARY_PATH_VAR = 'DYLD_LIBRARY_PATH';

/**
 * The libraries outside macOS that a copy of `node` must carry, from the images this process
 * loaded (dyld's list, which is transitive and resolved: a Homebrew node's libuv, nghttp2,
 * openssl@3, brotli, c-ares and icu4c kegs, per its formula's --shared-* options). Each is found
 * by its real file; it is copied under the name it was loaded by and, when the link it was
 * loaded through names another file, that file's name too (dyld searches by the leaf of the name
 * the binary carries). `real` resolves links. Pure but for `real`.
 */
export async function librariesToCopy(
  loaded: readonly string[],
  node: string,
  real: (path: string) => Promise<string | null>,
): Promise<RuntimeLibraries['libs']> {
  const self = (await real(node)) ?? node;
  const out: RuntimeLibraries['libs'] = [];
  for (const path of loaded) {
    if (!path.startsWith('/') || MACOS_LIBRARY_DIRS.some((d) => path.startsWith(d))) continue;
    const file = (await real(path)) ?? path;
    if (file === self || path === node) continue;
    if (out.some((l) => l.from === file)) continue;
    out.push({ from: file, names: [...new Set([basename(path), basename(file)])] });
  }
  return out;
}

/**
 * What a copy of this process's node needs on macOS (Backend.runtimeLibraries): the libraries it
 * loaded from outside macOS, the variable that makes the copy load them from its lib/ folder, and
 * macOS's own folders. Without the in-process probe (a preview, a test without one) nothing is
 * known to copy: the copy is still checked before it is used. Read-only.
 */
export async function macRuntimeLibraries(ctx: Context, node: string): Promise<RuntimeLibraries> {
  const loaded = ctx.native?.loadedLibraries?.() ?? [];
  return { libs: await librariesToCopy(loaded, node, realLivePath), libraryPathVar: LIBRARY_PATH_VAR, system: MACOS_LIBRARY_DIRS };
}
