import { userFolders } from '../engine/user-files.js';
import { readLiveFile } from '../fs/system-fs.js';
import { pathFacts, removeOwnFolder } from '../fs/user-cache.js';
import { shellQuote } from '../model/shell.js';
import type { CliIO } from './io.js';

/**
 * After `down`: removes this user's own hostalias folders (the run cache, compose's journal) as
 * this user, and says so. Run by the user's process (after its sudo re-run) or by root for root's
 * own; never by root on another user's home.
 */
export async function removeUserFolders(io: CliIO, env: Record<string, string | undefined>, toErr: boolean): Promise<void> {
  const say = (line: string) => (toErr ? io.err(line) : io.out(line));
  for (const { dir, what } of userFolders(env)) {
    const done = await removeOwnFolder(dir).catch(() => 'kept' as const);
    if (done === 'removed') say(`✓ removed ${dir} (${what})`);
    else if (done === 'kept') say(`note: left ${dir} (${what}): it holds what is not this user's files; look before you remove it`);
  }
}

/** A user's home folder from /etc/passwd, or null. Read-only. */
async function homeOf(user: string): Promise<string | null> {
  const passwd = (await readLiveFile('/etc/passwd')) ?? '';
  const line = passwd.split('\n').find((l) => l.split(':')[0] === user);
  return line?.split(':')[5] || null;
}

/**
 * `sudo hostalias down` run by hand: root leaves the user's own folders alone (a root process
 * never removes files in a user's home) and names them, with the command that removes them as
 * that user. Read-only.
 */
export async function nameUserFolders(io: CliIO, user: string, toErr: boolean): Promise<void> {
  const home = await homeOf(user);
  if (home === null) return;
  const left = [];
  for (const f of userFolders({ HOME: home })) if ((await pathFacts(f.dir)).present) left.push(f);
  if (left.length === 0) return;
  const line = `note: ${user}'s own hostalias folders are left: ${left.map((f) => `${f.dir} (${f.what})`).join(', ')}; as ${user}: rm -r -- ${shellQuote(left.map((f) => f.dir))}`;
  if (toErr) io.err(line);
  else io.out(line);
}
