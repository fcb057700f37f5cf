import type { ForwardSpec } from '../model/config.js';

export type { ForwardRuntime } from '../exec/runtime.js';

/**
 * The relay options a spec stores, as `forward` flags (`--workers 2 --max-connections 500`): what
 * an installed service runs with and what `status` shows. Only the options given. Pure.
 */
export function forwardOptionArgs(spec: ForwardSpec): string[] {
  const args: string[] = [];
  const add = (flag: string, value: string | number | undefined) => {
    if (value !== undefined) args.push(flag, String(value));
  };
  add('--workers', spec.workers);
  add('--schedule', spec.schedule);
  add('--connect-timeout', spec.connectTimeoutMs);
  add('--idle-timeout', spec.idleTimeoutS);
  add('--max-connections', spec.maxConnections);
  add('--max-sessions', spec.maxSessions);
  add('--grace', spec.graceS);
  return args;
}

/** The argv the service runs (after node and the CLI path). Pure. */
export function forwardArgs(spec: ForwardSpec, ip: string): string[] {
  const args = ['forward', `${spec.port}/${spec.proto}`, '--listen', spec.listen ?? ip];
  for (const t of spec.targets) args.push('--to', t);
  args.push(...forwardOptionArgs(spec));
  if (spec.forExpose) args.push('--for-expose');
  return args;
}
