import type { Command } from 'commander';
import { SystemFs } from '../fs/system-fs.js';
import { shellQuote } from '../model/shell.js';
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

/** The command line as typed, for "run it with sudo" hints. */
export function commandLine(): string {
  return shellQuote(['hostalias', ...process.argv.slice(2)]);
}
