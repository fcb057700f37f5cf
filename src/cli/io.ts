import type { Command } from 'commander';
import { SystemFs } from '../fs/system-fs.js';
import { detectInvocation } from '../exec/invocation.js';
import { hostaliasLine, type FixCommand } from '../model/invocation.js';
import { usageError } from '../model/errors.js';
import { filesRootOf } from '../model/context.js';

/** Where the CLI writes; injected so tests can capture output. Only the CLI prints. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Exit status the command wants (default 0); main applies it. */
  exitCode: number;
}

export interface CommonOptions {
  root?: string;
  filesRoot?: string;
  json?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
  platform?: 'linux' | 'darwin';
}

/** Options every command takes. */
export function addCommonOptions(cmd: Command, changing: boolean): Command {
  cmd
    .option('--root <dir>', 'prepare an image: write the system files and state under DIR; no running kernel, firewall or service manager is touched')
    .option(
      '--files-root <dir>',
      "change this machine's network stack but keep system files and state under DIR (tests, containers); service managers are not called",
    )
    .option('--json', 'print machine-readable JSON')
    .option('-v, --verbose', 'explain each decision')
    .addOption(
      cmd
        .createOption(
          '--platform <os>',
          changing ? 'plan for this OS (with --dry-run: preview macOS anywhere)' : 'check as on this OS (preview macOS anywhere)',
        )
        .choices(['linux', 'darwin']),
    );
  if (changing) cmd.option('-n, --dry-run', 'print what would be done, change nothing');
  return cmd;
}

/**
 * A parser for an option or argument that checks each value as the command will read it (throwing
 * the command's own usage error) and keeps the text as given: a bad value is refused while the
 * command line is parsed, before any action runs, so a parse-only check sees it too (main.ts
 * parseCommandLine). The action reads the same text as without it.
 */
export function checked(check: (text: string) => unknown): (text: string) => string {
  return (text) => {
    check(text);
    return text;
  };
}

/** The same for a repeatable option or a variadic argument: every value checked, kept in order. */
export function checkedEach(check: (text: string) => unknown): (text: string, previous: unknown) => string[] {
  return (text, previous) => {
    check(text);
    return [...(Array.isArray(previous) ? (previous as string[]) : []), text];
  };
}

/** `--root` / `--files-root` as given, checked (each needs a folder). */
export function rootsFrom(opts: CommonOptions): { root?: string; filesRoot?: string } {
  if (opts.root === '') throw usageError('--root needs a folder', '--root /mnt/image');
  if (opts.filesRoot === '') throw usageError('--files-root needs a folder', '--files-root /tmp/hostalias-files');
  filesRootOf(opts);
  return { ...(opts.root ? { root: opts.root } : {}), ...(opts.filesRoot ? { filesRoot: opts.filesRoot } : {}) };
}

/**
 * Only the files, for a command that needs no platform (a relay reading the state): the
 * platform backends stay unloaded, which keeps a relay's memory small.
 */
export function fsFrom(opts: CommonOptions): SystemFs {
  return new SystemFs(filesRootOf(rootsFrom(opts)));
}

/**
 * A fix line for this process's reader, for CLI code that has no Context (model/invocation.ts).
 * Arguments are taken as given: add --root/--files-root yourself.
 */
export const cliFix: FixCommand = (args, needs) =>
  hostaliasLine(detectInvocation({ env: process.env, isRoot: typeof process.geteuid === 'function' && process.geteuid() === 0 }), args, needs);

/** The command's arguments as typed, for the fix of a command run without root. */
export function commandArgs(): string[] {
  return process.argv.slice(2);
}
