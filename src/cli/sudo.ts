import { EXIT_CODES, type HostaliasError } from '../model/errors.js';
import { shellQuote } from '../model/shell.js';
import { runInherited } from '../exec/inherit.js';
import { selfArgv, sudoArgv, sudoWithoutPrompt } from '../exec/sudo.js';
import { RERUN_ENV, detectInvocation } from '../exec/invocation.js';
import { contextHost } from '../docker/engine-api.js';
import { rootEnv } from '../model/invocation.js';
import type { CliIO } from './io.js';

/**
 * A command that needs root was run without it: run the same command again through sudo, with
 * absolute paths to this node and this script, saying so first. The user's container engine
 * goes with it (rootEnv), so root asks the engine the user meant. Without a terminal to
 * ask for a password and no cached credentials, or with HOSTALIAS_NO_SUDO=1, fail with the exact
 * command instead (exit 4). Returns the exit status to use.
 */
export async function rerunWithSudo(
  err: HostaliasError,
  args: readonly string[],
  io: CliIO,
  env: Record<string, string | undefined>,
  interactive: boolean,
): Promise<number> {
  const vars = rootEnv(env, await contextHost(env));
  const command = shellQuote(sudoArgv(args, vars));
  const refuse = (why: string, fix = command) => {
    io.err(`hostalias: ${err.message}${why}`);
    io.err(`  fix: ${fix}`);
    if (args.includes('--json'))
      io.out(JSON.stringify({ error: { code: err.code, exitCode: EXIT_CODES.permission, message: `${err.message}${why}`, fix } }, null, 2));
    return EXIT_CODES.permission;
  };
  if (env['HOSTALIAS_NO_SUDO'] === '1') return refuse(' (HOSTALIAS_NO_SUDO=1: not re-running it with sudo)');
  const prompt = await sudoWithoutPrompt();
  if (prompt === 'missing') return refuse(' and sudo is not installed: run it as root', `${shellQuote(selfArgv(args))}  # as root`);
  if (prompt === 'no' && !interactive) return refuse('; sudo would ask for a password, but there is no terminal to ask on');
  // The root process learns it is the re-run, and whether the user runs `hostalias` by name (its fix lines may then say `hostalias …`).
  const byName = detectInvocation({ env, isRoot: false }).self.join(' ') === 'hostalias';
  const argv = sudoArgv(args, { ...vars, [RERUN_ENV]: byName ? 'name' : 'path' });
  io.err(`hostalias: ${err.message}; running it again with sudo:`);
  io.err(`  ${shellQuote(argv)}`);
  // sudo relays the terminal's signals to the command itself; forwarding them too would double them.
  return runInherited(argv, { forwardSignals: false });
}
