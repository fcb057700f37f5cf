/**
 * The one lookup of a program by name: as a shell would find it, then where Debian, Ubuntu and
 * Fedora install system tools. A normal user's PATH on Debian has no /usr/sbin, where nft,
 * iptables, ip and sysctl live: a lookup by PATH alone reported an installed packet filter as
 * missing. Read-only; synchronous because it costs a few stat calls, far less than the process
 * start it precedes.
 */
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where system tools are installed that a normal user's PATH lacks (root's PATH has them, in this
 * order), searched after PATH. The bin folders are on every PATH already.
 */
export const STANDARD_TOOL_DIRS: readonly string[] = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first executable `name` in the folders of `searchPath` (a PATH value), or null. Read-only. */
export function findOnPath(name: string, searchPath: string | undefined): string | null {
  for (const dir of (searchPath ?? '').split(':')) {
    if (dir === '' || !dir.startsWith('/')) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Where the program `name` is: on PATH first, then in STANDARD_TOOL_DIRS; a name with a slash is
 * taken as a path. Null when it is nowhere: only then is it "not installed". Read-only.
 */
export function findTool(name: string, searchPath: string | undefined): string | null {
  if (name.includes('/')) return isExecutableFile(name) ? name : null;
  return findOnPath(name, searchPath) ?? findOnPath(name, STANDARD_TOOL_DIRS.join(':'));
}

/** `path` with every link resolved, or null when it doesn't exist. Read-only. */
export function realPathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}
