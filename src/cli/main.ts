#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, HostaliasError } from '../model/errors.js';
import type { CliIO } from './io.js';
import { UnsafePathError } from '../fs/system-fs.js';

type Registrar = (program: Command, io: CliIO) => Promise<void>;

// Each command's module (and what it imports) loads only when that command runs, so a relay
// service (`forward`) doesn't carry every platform backend in memory (issue 11); help loads all.
const aliasCommands: Registrar = async (program, io) => {
  const [{ registerAliasCommands }, { dockerDaemonUpFlags }, { firewallUpFlags }] = await Promise.all([import('./commands/alias.js'), import('./commands/docker-daemon.js'), import('./commands/expose.js')]);
  registerAliasCommands(program, io, [dockerDaemonUpFlags, firewallUpFlags]);
};
const REGISTRARS: ReadonlyArray<[readonly string[], Registrar]> = [
  [['up', 'down', 'status'], aliasCommands],
  [['flags'], async (p, io) => (await import('./commands/flags.js')).registerFlagsCommand(p, io)],
  [['run'], async (p, io) => (await import('./commands/run.js')).registerRunCommand(p, io)],
  [['compose'], async (p, io) => (await import('./commands/compose.js')).registerComposeCommand(p, io)],
  [['forward'], async (p, io) => (await import('./commands/forward.js')).registerForwardCommand(p, io)],
  [['expose', 'unexpose', 'refresh'], async (p, io) => (await import('./commands/expose.js')).registerExposeCommands(p, io)],
  [['doctor'], async (p, io) => (await import('./commands/doctor.js')).registerDoctorCommand(p, io)],
];

/** The program with the commands `argv` runs (all of them for help, a typo or no command). */
export async function buildProgram(io: CliIO, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('hostalias')
    .description('Reach the host from inside a container: a stable loopback alias, persisted, reversible, wired into Docker.')
    .version('0.1.0')
    .enablePositionalOptions()
    .showHelpAfterError('(run hostalias help COMMAND for its options)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  const wanted = REGISTRARS.find(([names]) => names.includes(argv[0] ?? ''));
  for (const [, register] of wanted ? [wanted] : REGISTRARS) await register(program, io);
  program.commands.forEach((c) => c.exitOverride());
  return program;
}

/** Runs the CLI; returns the exit status. Prints errors with their fix; never throws. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  try {
    await (await buildProgram(io, argv)).parseAsync(argv, { from: 'user' });
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
