import { detectInvocation } from '../exec/invocation.js';
import { hostaliasLine, type FixCommand, type Invocation } from '../model/invocation.js';

let invocation: Invocation | undefined;

/**
 * Fix lines for a test suite's reader: this library can't run itself again through sudo, so a
 * command that needs root is `sudo NODE …/hostalias/dist/cli/main.js …`, which works whatever
 * node the tests run with. Asked on first use.
 */
export const libraryFix: FixCommand = (args, needs) => {
  invocation ??= detectInvocation({ env: process.env, isRoot: typeof process.geteuid === 'function' && process.geteuid() === 0 });
  return hostaliasLine(invocation, args, needs);
};
