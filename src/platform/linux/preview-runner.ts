import type { RunOptions, RunResult, Runner } from '../../model/runner.js';
import { shellQuote } from '../../model/shell.js';

/**
 * The runner behind `--platform linux` on a machine that isn't Linux: no Linux command can run,
 * so every probe fails with a message saying only a macOS preview exists the other way round.
 */
export class LinuxPreviewRunner implements Runner {
  constructor(private readonly host: string) {}
  async run(argv: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    return { code: 126, stdout: '', stderr: `previewing Linux from ${this.host}: \`${shellQuote(argv)}\` can't run here` };
  }
}
