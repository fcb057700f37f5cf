/** The contract of the process gateway (exec/runner.ts implements it; tests pass fakes). */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The runner killed it when opts.timeoutMs ran out. */
  timedOut?: boolean;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/**
 * The one gateway through which hostalias starts processes: always an argv array, never a shell
 * string. A non-zero exit is returned, not thrown, so probes can read failures as data.
 */
export interface Runner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}
