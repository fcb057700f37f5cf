import { basename, dirname, join, relative, resolve } from 'node:path';
import { usageError } from '../model/errors.js';
import type { SystemFs } from '../fs/system-fs.js';
import type { ComposeSource } from './compose-plan.js';

/** What `docker compose` reads when no -f is given, in its order of preference. */
export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
const DEFAULT_OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yaml', 'docker-compose.override.yml'];
export const DEFAULT_OUTPUT = 'compose.hostalias.yaml';

export interface LoadedSource extends ComposeSource {
  /** Absolute path. */
  abs: string;
}

/** A path as the user should type it from `cwd`. */
export function displayPath(abs: string, cwd: string): string {
  const rel = relative(cwd, abs);
  return rel === '' || rel.startsWith('..') ? abs : rel;
}

/**
 * The files COMPOSE_FILE names, as compose splits it: COMPOSE_PATH_SEPARATOR, else ':' (';' on
 * Windows). Empty entries are dropped; none set gives [].
 */
function composeFileEnv(env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string[] {
  const value = env['COMPOSE_FILE'];
  if (!value) return [];
  const sep = env['COMPOSE_PATH_SEPARATOR'] || (platform === 'win32' ? ';' : ':');
  return value.split(sep).filter((f) => f !== '');
}

/**
 * The compose files to read: the -f files, else those COMPOSE_FILE names, or — like compose —
 * the first default file in `cwd` plus its override file when one exists. `fs` is rooted at '/',
 * paths are absolute. Read-only.
 */
export async function loadComposeSources(
  fs: SystemFs,
  cwd: string,
  flagFiles: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<LoadedSource[]> {
  const fromEnv = flagFiles.length === 0 ? composeFileEnv(env) : [];
  const files = flagFiles.length > 0 ? flagFiles : fromEnv;
  const sources: LoadedSource[] = [];
  const add = async (abs: string): Promise<boolean> => {
    const text = await fs.read(abs);
    if (text === null) return false;
    sources.push({ abs, path: displayPath(abs, cwd), text });
    return true;
  };
  if (files.length > 0) {
    for (const f of files) {
      const abs = resolve(cwd, f);
      if (!(await add(abs))) {
        if (fromEnv.length > 0)
          throw usageError(`${f}: no such compose file (named by COMPOSE_FILE=${env['COMPOSE_FILE']})`, 'fix COMPOSE_FILE, or pass the files with -f FILE');
        throw usageError(`${f}: no such compose file`, `check the path, or leave out -f to use ${DEFAULT_COMPOSE_FILES.join(', ')} from the current folder`);
      }
    }
    return sources;
  }
  for (const name of DEFAULT_COMPOSE_FILES) if (await add(join(cwd, name))) break;
  if (sources.length === 0)
    throw usageError(`no compose file here (looked for ${DEFAULT_COMPOSE_FILES.join(', ')} in ${cwd})`, 'cd to the project, or pass it with -f FILE');
  for (const name of DEFAULT_OVERRIDE_FILES) if (await add(join(cwd, name))) break;
  return sources;
}

/** Where the override goes: -o, else compose.hostalias.yaml next to the first compose file. */
export function outputPath(cwd: string, first: LoadedSource, output: string | undefined): string {
  return output ? resolve(cwd, output) : join(dirname(first.abs), DEFAULT_OUTPUT);
}

/**
 * The file's permission bits, so an edit in place or its backup doesn't widen them (a compose
 * file can hold secrets); 0644 for a new file. Read-only.
 */
export async function fileMode(fs: SystemFs, abs: string): Promise<number> {
  return (await fs.mode(abs)) ?? 0o644;
}

export function backupPath(abs: string): string {
  return join(dirname(abs), `${basename(abs)}.hostalias.bak`);
}
