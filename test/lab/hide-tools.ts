/**
 * A machine without some programs (a minimal Debian without nft and iptables, a host without ip or
 * docker), made for one command: it runs in its own mount namespace where each program's file is
 * covered by an empty, non-executable file, so neither PATH nor the standard folders hostalias
 * also searches (/usr/sbin, /sbin) find it. The machine's own files are untouched, and the mounts
 * end with the command.
 */
import { realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempRoot } from '../support/e2e.js';
import { which } from './exec.js';

/** Where a program may live, every folder a shell or hostalias looks in. */
const FOLDERS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * An argv prefix that runs a command with `names` gone: `[...prefix, 'node', 'main.js', …]`. Put it
 * after nsenter (ns.exec(prefix + argv)). Each name's files (links followed) are covered.
 */
export async function withoutTools(t: Pick<TestContext, 'after'>, names: readonly string[]): Promise<string[]> {
  const empty = join(await tempRoot(t, 'hidden-tool'), 'gone');
  await writeFile(empty, '', { mode: 0o644 });
  const files = new Set<string>();
  for (const name of names)
    for (const dir of FOLDERS) {
      const found = which(name, dir);
      if (found !== undefined) files.add(realpathSync(found));
    }
  const script = 'e=$1; n=$2; shift 2; while [ "$n" -gt 0 ]; do mount --bind "$e" "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', empty, String(files.size), ...files];
}
