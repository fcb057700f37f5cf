import { addHostArgs, entryName, type HostTarget } from './add-hosts.js';

/**
 * `docker run` options that take no value. Every other option takes one (as the next argument
 * unless written `--opt=value`), which is how the image — the first operand — is found.
 * From `docker run --help`, Engine 20.10–28.
 */
const BOOLEAN_LONG = new Set([
  '--detach',
  '--interactive',
  '--tty',
  '--rm',
  '--init',
  '--privileged',
  '--publish-all',
  '--read-only',
  '--sig-proxy',
  '--no-healthcheck',
  '--oom-kill-disable',
  '--quiet',
  '--disable-content-trust',
  '--help',
  '--use-api-socket',
]);
const BOOLEAN_SHORT = new Set(['d', 'i', 't', 'P', 'q']);

export interface RunArgv {
  /** Arguments after `docker`: `run`, the injected flags, then the user's arguments unchanged. */
  args: string[];
  /** Names injected. */
  added: string[];
  /** Names the user already mapped with --add-host: left to the user's value. */
  userNames: string[];
}

/** Names the user maps with `--add-host NAME:…` / `--add-host=NAME:…` before the image. Pure. */
export function userAddHostNames(userArgs: readonly string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < userArgs.length; i++) {
    const arg = userArgs[i] as string;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') break; // the image: what follows is the container's command
    if (arg === '--add-host') {
      const value = userArgs[++i];
      if (value !== undefined) names.push(entryName(value));
      continue;
    }
    if (arg.startsWith('--add-host=')) {
      names.push(entryName(arg.slice('--add-host='.length)));
      continue;
    }
    if (arg.startsWith('--')) {
      if (!arg.includes('=') && !BOOLEAN_LONG.has(arg)) i++; // skip the option's value
      continue;
    }
    // A group of short options (-it, -p8080:80, -e X): a value-taking letter eats the rest or the next arg.
    for (let j = 1; j < arg.length; j++) {
      if (BOOLEAN_SHORT.has(arg[j] as string)) continue;
      if (j === arg.length - 1) i++;
      break;
    }
  }
  return names;
}

/**
 * Builds `docker run <--add-host flags> ARGS…`, leaving out names the user maps already. Pure.
 * The flags go first so the user's arguments (image, command) keep their meaning.
 */
export function buildRunArgv(t: HostTarget, userArgs: readonly string[]): RunArgv {
  const userNames = userAddHostNames(userArgs);
  const added = t.names.filter((n) => !userNames.includes(n));
  return { args: ['run', ...addHostArgs({ ip: t.ip, names: added }), ...userArgs], added, userNames: t.names.filter((n) => userNames.includes(n)) };
}
