#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isEntryPoint } from '../exec/runtime.js';
import { EXIT_CODES, isHostaliasError } from '../model/errors.js';
import { VERSION } from '../model/version.js';
import { cliFix, type CliIO } from './io.js';
import type { UnsafePathError } from '../fs/system-fs.js';

type Register = (program: Command, io: CliIO) => void;

/**
 * Each command's code, loaded only when that command runs (start time: `--version` and `status`
 * must start about as fast as `node -e 0`, so they must not parse the rest of the CLI).
 */
const GROUPS: Record<string, () => Promise<Register>> = {
  alias: async () => {
    const [alias, daemon, fw, dns] = await Promise.all([
      import('./commands/alias.js'),
      import('./commands/docker-daemon.js'),
      import('./commands/firewall-flags.js'),
      import('./commands/dns-flags.js'),
    ]);
    return (p, io) => alias.registerAliasCommands(p, io, [daemon.dockerDaemonUpFlags, fw.firewallUpFlags, dns.dnsUpFlags(process.env)]);
  },
  flags: async () => (await import('./commands/flags.js')).registerFlagsCommand,
  run: async () => (await import('./commands/run.js')).registerRunCommand,
  compose: async () => (await import('./commands/compose.js')).registerComposeCommand,
  forward: async () => (await import('./commands/forward.js')).registerForwardCommand,
  expose: async () => (await import('./commands/expose.js')).registerExposeCommands,
  doctor: async () => (await import('./commands/doctor.js')).registerDoctorCommand,
  resolver: async () => (await import('./commands/resolver.js')).registerResolverCommand,
  serve: async () => (await import('./commands/serve.js')).registerServeCommand,
  completion: async () => (await import('./commands/completion.js')).registerCompletionCommand,
};

/** Command name → the group that registers it (help order follows GROUPS). */
const GROUP_OF: Record<string, keyof typeof GROUPS> = {
  up: 'alias',
  down: 'alias',
  status: 'alias',
  flags: 'flags',
  run: 'run',
  compose: 'compose',
  forward: 'forward',
  expose: 'expose',
  unexpose: 'expose',
  refresh: 'expose',
  doctor: 'doctor',
  resolver: 'resolver',
  serve: 'serve',
  completion: 'completion',
};

/** The command word of argv (the first non-option), or null for `--version`, `--help`, none. */
function commandWord(argv: readonly string[]): string | null {
  return argv.find((a) => !a.startsWith('-')) ?? null;
}

/**
 * The commander program with the commands `argv` needs: only the named command's group when the
 * command is known, every command otherwise (help, a typo to suggest against).
 */
export async function buildProgram(io: CliIO, argv?: readonly string[]): Promise<Command> {
  const program = new Command('hostalias')
    .description('Reach the host from inside a container: a stable loopback alias, persisted, reversible, wired into Docker.')
    .version(VERSION)
    .enablePositionalOptions()
    .showHelpAfterError('(run hostalias help COMMAND for its options)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  const word = argv ? commandWord(argv) : null;
  const versionOnly = argv !== undefined && word === null && argv.some((a) => a === '-V' || a === '--version');
  const group = word !== null ? GROUP_OF[word] : undefined;
  // A completion script covers every command: all of them are registered for it.
  const groups = versionOnly ? [] : group && group !== 'completion' ? [group] : Object.keys(GROUPS);
  const registers = await Promise.all(groups.map((g) => (GROUPS[g] as () => Promise<Register>)()));
  for (const register of registers) register(program, io);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** A command line as the CLI would take it, or the usage error it would print instead. */
export type ParsedCommandLine = { ok: true; command: string | null; args: unknown[]; options: Record<string, unknown> } | { ok: false; message: string };

/**
 * Parses a command line with the real program and runs nothing: the command, the arguments and
 * the options its action would receive, or the usage error the CLI would print (an unknown command
 * or option, a missing or refused value; values are checked by the options' own parsers). The
 * actions are replaced in a program built for this call only, so `main` is unchanged. `--help` and
 * `--version` are accepted, with no command. For tools and tests that check command lines (the
 * docs' snippets). Checks that span several options (`expose --to` with two ports) stay in the
 * actions and are not seen here.
 */
export async function parseCommandLine(argv: readonly string[]): Promise<ParsedCommandLine> {
  const io: CliIO = { out: () => undefined, err: () => undefined, exitCode: 0 };
  let parsed: ParsedCommandLine = { ok: true, command: null, args: [], options: {} };
  try {
    const program = await buildProgram(io, argv);
    for (const c of program.commands)
      c.action(function (this: Command) {
        parsed = { ok: true, command: this.name(), args: [...this.processedArgs], options: { ...this.opts() } };
      });
    await program.parseAsync([...argv], { from: 'user' });
    return parsed;
  } catch (err) {
    if (err instanceof CommanderError && ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code)) return parsed;
    if (err instanceof CommanderError || isHostaliasError(err)) return { ok: false, message: err.message };
    throw err;
  }
}

export interface MainOptions {
  /** Re-run a command that needs root through sudo (the real CLI; off for in-process callers). */
  sudo?: { env: Record<string, string | undefined>; interactive: boolean };
}

/** Runs the CLI; returns the exit status. Prints errors with their fix; never throws. */
export async function main(argv: string[], io: CliIO, opts: MainOptions = {}): Promise<number> {
  try {
    await (await buildProgram(io, argv)).parseAsync(argv, { from: 'user' });
    return io.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_CODES.ok;
      return EXIT_CODES.usage;
    }
    if (isHostaliasError(err) && err.needsRoot && opts.sudo) {
      const { rerunWithSudo } = await import('./sudo.js');
      const code = await rerunWithSudo(err, argv, io, opts.sudo.env, opts.sudo.interactive);
      // `down` done as root: this user's own folders go as this user (root never removes in a user's home).
      if (code === EXIT_CODES.ok && commandWord(argv) === 'down' && !argv.some((a) => a === '--dry-run' || a === '-n')) {
        const { removeUserFolders } = await import('./user-folders.js');
        await removeUserFolders(io, opts.sudo.env, argv.includes('--json'));
      }
      return code;
    }
    if (isHostaliasError(err)) {
      io.err(`hostalias: ${err.message}`);
      if (err.fix) io.err(`  fix: ${err.fix}`);
      // --json callers parse stdout: give them the error as data too.
      if (argv.includes('--json'))
        io.out(JSON.stringify({ error: { code: err.code, exitCode: EXIT_CODES[err.code], message: err.message, fix: err.fix ?? null } }, null, 2));
      return EXIT_CODES[err.code];
    }
    if (err instanceof Error && err.name === 'UnsafePathError') {
      const unsafe = err as UnsafePathError;
      io.err(`hostalias: ${unsafe.message}`);
      io.err(`  fix: ${unsafe.fix}`);
      return EXIT_CODES.failed;
    }
    const denied = deniedPath(err);
    if (denied) {
      io.err(`hostalias: ${denied}: permission denied`);
      io.err(`  fix: run it as root (${cliFix(argv, 'root')}), or let your user read it`);
      return EXIT_CODES.permission;
    }
    io.err(`hostalias: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_CODES.failed;
  }
}

/** The path of an EACCES/EPERM from the file system (an unreadable state folder), else null. */
function deniedPath(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException | null;
  if (!e || typeof e !== 'object' || (e.code !== 'EACCES' && e.code !== 'EPERM') || typeof e.path !== 'string') return null;
  return e.path;
}

/**
 * A reader that closes early (`hostalias status | head -1`) makes the next write fail with
 * EPIPE: that is the reader's choice, not an error. Stop quietly, as a shell tool would.
 */
function exitQuietlyOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

/**
 * Runs the CLI as the `hostalias` process: process.argv, stdio, the sudo re-run, the exit status.
 * dist/cli/main.js (scripts/launch.cjs) calls it after loading this bundle with its code cache.
 */
export function runCli(): void {
  exitQuietlyOnEpipe(process.stdout);
  exitQuietlyOnEpipe(process.stderr);
  const io: CliIO = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), exitCode: 0 };
  // No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
  void main(process.argv.slice(2), io, { sudo: { env: process.env, interactive: process.stdin.isTTY === true } }).then((code) => {
    process.exitCode = code;
  });
}

if (isEntryPoint(import.meta.url)) runCli();
