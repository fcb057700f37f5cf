import { RELAY_OPTIONS, type ForwardSpec } from '../model/config.js';

/**
 * The relay options a spec stores, as `forward` flags (`--workers 2 --max-connections 500`): what
 * an installed service runs with and what `status` shows. Only the options given. Pure.
 */
export function forwardOptionArgs(spec: ForwardSpec): string[] {
  const args: string[] = [];
  for (const { key, flag } of RELAY_OPTIONS) if (spec[key] !== undefined) args.push(flag, String(spec[key]));
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
