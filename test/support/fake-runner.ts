import type { RunOptions, RunResult, Runner } from '../../src/model/runner.js';
import { shellQuote } from '../../src/model/shell.js';

export type FakeReply = RunResult | ((argv: readonly string[], opts?: RunOptions) => RunResult);

interface Handler {
  match: (argv: readonly string[]) => boolean;
  reply: FakeReply;
  label: string;
}

export function ok(stdout = ''): RunResult {
  return { code: 0, stdout, stderr: '' };
}

export function fail(stderr: string, code = 1): RunResult {
  return { code, stdout: '', stderr };
}

/**
 * A Runner for planning logic and for platforms that can't run here (macOS). Handlers close over
 * test state, so commands can change what later commands observe. Any command without a handler
 * fails the test: nothing unexpected ever "succeeds".
 */
export class FakeRunner implements Runner {
  readonly calls: string[][] = [];
  private readonly handlers: Handler[] = [];

  /** Replies to exactly this argv. */
  on(argv: readonly string[], reply: FakeReply): this {
    const want = shellQuote(argv);
    this.handlers.push({ match: (a) => shellQuote(a) === want, reply, label: want });
    return this;
  }

  /** Replies to any argv whose shell rendering matches `pattern`. */
  onMatch(pattern: RegExp, reply: FakeReply): this {
    this.handlers.push({ match: (a) => pattern.test(shellQuote(a)), reply, label: String(pattern) });
    return this;
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.calls.push([...argv]);
    const handler = this.handlers.find((h) => h.match(argv));
    if (!handler) throw new Error(`FakeRunner: unexpected command: ${shellQuote(argv)}`);
    return typeof handler.reply === 'function' ? handler.reply(argv, opts) : handler.reply;
  }

  /** The calls as shell lines, for assertions. */
  get lines(): string[] {
    return this.calls.map((c) => shellQuote(c));
  }
}
