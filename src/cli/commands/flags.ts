import type { Command } from 'commander';
import { FLAG_FORMATS, formatFlags, parseFlagFormat } from '../../docker/add-hosts.js';
import { loadHostTarget } from '../../engine/inputs.js';
import { addCommonOptions, type CliIO, type CommonOptions } from '../io.js';
import { contextFrom } from '../context-from.js';

/** `hostalias flags`: the --add-host flags for the recorded names, for `docker run $(hostalias flags) …`. */
export function registerFlagsCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('flags'), false)
    .description('print --add-host flags for the alias names: docker run $(hostalias flags) --rm IMAGE … (no root needed)')
    .addOption(
      program.createOption('--format <format>', 'args (one line for $(…)), compose (an extra_hosts block) or json').choices(FLAG_FORMATS).default('args'),
    )
    .action(async (flags: CommonOptions & { format: string }) => {
      const ctx = contextFrom(flags);
      const format = flags.json ? 'json' : parseFlagFormat(flags.format);
      const { target, warning, note } = await loadHostTarget(ctx);
      // stderr, so `$(hostalias flags)` still expands to the flags alone.
      if (warning) io.err(`warning: ${warning}`);
      if (note) io.err(`note: ${note}`);
      io.out(formatFlags(target, format));
    });
}
