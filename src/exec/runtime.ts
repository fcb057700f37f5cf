import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How to start hostalias itself: the node binary and the CLI entry point (boot units name them). */
export interface ForwardRuntime {
  nodePath: string;
  cliPath: string;
}

/** The node binary and CLI entry point this installation runs from (what the unit will start). */
export function currentRuntime(): ForwardRuntime {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  let cliPath = cli;
  try {
    cliPath = realpathSync(cli);
  } catch {
    // not built next to this module (unusual); keep the computed path
  }
  return { nodePath: process.execPath, cliPath };
}
