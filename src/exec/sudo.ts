import { selfPath } from './runtime.js';
import { ProcessRunner } from './runner.js';

/**
 * This very process as an argv with absolute paths: the node binary that runs it and the script.
 * sudo resets PATH (secure_path), so neither `hostalias` nor `node` from nvm, volta, fnm or asdf
 * would be found by name; mkcert re-runs its root steps the same way.
 */
export function selfArgv(args: readonly string[]): string[] {
  return [process.execPath, selfPath(), ...args];
}

/**
 * `sudo NAME=VALUE… NODE MAIN.JS ARGS…`: this process run again as root with `vars` set. They are
 * passed on sudo's command line, not with `sudo -E` (which would hand root every variable); sudo
 * accepts them when the user may run any command, or under a SETENV: rule.
 */
export function sudoArgv(args: readonly string[], vars: Readonly<Record<string, string>> = {}): string[] {
  return ['sudo', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), ...selfArgv(args)];
}

/** Whether `sudo` would run without asking for a password (cached credentials, NOPASSWD). */
export async function sudoWithoutPrompt(): Promise<'yes' | 'no' | 'missing'> {
  const res = await new ProcessRunner().run(['sudo', '-n', 'true'], { timeoutMs: 10_000 });
  return res.code === 0 ? 'yes' : res.code === 127 ? 'missing' : 'no';
}
