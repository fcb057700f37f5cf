import type { ForwardSpec } from '../model/config.js';

export type { ForwardRuntime } from '../exec/runtime.js';

/** The argv the service runs (after node and the CLI path). Pure. */
export function forwardArgs(spec: ForwardSpec, ip: string): string[] {
  const args = ['forward', `${spec.port}/${spec.proto}`, '--listen', spec.listen ?? ip];
  for (const t of spec.targets) args.push('--to', t);
  if (spec.workers !== undefined) args.push('--workers', String(spec.workers));
  if (spec.forExpose) args.push('--for-expose');
  return args;
}
