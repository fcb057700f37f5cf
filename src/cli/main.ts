#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HostaliasError } from '../model/errors.js';
import { registerAliasCommands } from './commands/alias.js';
import { registerComposeCommand } from './commands/compose.js';
import { dockerDaemonUpFlags } from './commands/docker-daemon.js';
import { registerFlagsCommand } from './commands/flags.js';
import { registerRunCommand } from './commands/run.js';
import { registerForwardCommand } from './commands/forward.js';
import { firewallUpFlags, registerExposeCommands } from './commands/expose.js';
import { registerDoctorCommand } from './commands/doctor.js';
import type { CliIO } from './io.js';
import { UnsafePathError } from '../fs/system-fs.js';

export function buildProgram(io: CliIO): Command {
  const program = new Command('hostalias')
    .description('Reach the host from inside a container: a stable loopback alias, persisted, reversible, wired into Docker.')
    .version('0.1.0')
    .enablePositionalOptions()
    .showHelpAfterError('(run hostalias help COMMAND for its options)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  registerAliasCommands(program, io, [dockerDaemonUpFlags, firewallUpFlags]);
  registerFlagsCommand(program, io);
  registerRunCommand(program, io);
  registerComposeCommand(program, io);
  registerForwardCommand(program, io);
  registerExposeCommands(program, io);
  registerDoctorCommand(program, io);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

/** Runs the CLI; returns the exit status. Prints errors with their fix; never throws. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return io.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_CODES.ok;
      return EXIT_CODES.usage;
    }
    if (err instanceof HostaliasError) {
      io.err(`hostalias: ${err.message}`);
      if (err.fix) io.err(`  fix: ${err.fix}`);
      // --json callers parse stdout: give them the error as data too.
      if (argv.includes('--json')) io.out(JSON.stringify({ error: { code: err.code, exitCode: EXIT_CODES[err.code], message: err.message, fix: err.fix ?? null } }, null, 2));
      return EXIT_CODES[err.code];
    }
    if (err instanceof UnsafePathError) {
      io.err(`hostalias: ${err.message}`);
      io.err(`  fix: ${err.fix}`);
      return EXIT_CODES.failed;
    }
    io.err(`hostalias: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_CODES.failed;
  }
}

function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io: CliIO = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), exitCode: 0 };
  process.exitCode = await main(process.argv.slice(2), io);
}
