import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { ProcessRunner } from './runner.js';

/**
 * This very process as an argv with absolute paths: the node binary that runs it and the script.
 * sudo resets PATH (secure_path), so neither `hostalias` nor `node` from nvm, volta, fnm or asdf
 * would be found by name (issue 12); mkcert re-runs its root steps the same way.
 */
export function selfArgv(args: readonly string[]): string[] {
  const script = process.argv[1] ?? '';
  let path = script;
  try {
    path = realpathSync(script);
  } catch {
    // keep what node was given
  }
  return [process.execPath, path, ...args];
}

/** Whether `sudo` would run without asking for a password (cached credentials, NOPASSWD). */
export async function sudoWithoutPrompt(): Promise<'yes' | 'no' | 'missing'> {
  const res = await new ProcessRunner().run(['sudo', '-n', 'true'], { timeoutMs: 10_000 });
  return res.code === 0 ? 'yes' : res.code === 127 ? 'missing' : 'no';
}

/**
 * Runs argv with this process's stdin, stdout and stderr (sudo may prompt) and resolves with its
 * exit status (128 + signal number when killed, like a shell).
 */
export function runInherited(argv: readonly string[]): Promise<number> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(file as string, args, { stdio: 'inherit' });
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGKILL' ? 9 : 15)));
  });
}
