/**
 * The read-only commands on a malformed state.json: they refuse with the exit code the exit-code
 * table documents for it, the cause, and the fix, as `up` does; `--json` gives the same as data.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeRoot } from '../support/rooted.js';

const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const EXIT_CODES_PAGE = fileURLToPath(new URL('../../../docs/alias.md', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 30_000, env: { ...process.env, LC_ALL: 'C', DOCKER_HOST: 'unix:///nonexistent/hostalias.sock' } },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The rows of the exit-code table: code → meaning. */
function documentedExitCodes(): Map<number, string> {
  const page = readFileSync(EXIT_CODES_PAGE, 'utf8');
  const table = page.slice(page.indexOf('## Exit codes'));
  const rows = new Map<number, string>();
  for (const m of table.matchAll(/^\| (\d+) \| (.*) \|$/gm)) rows.set(Number(m[1]), m[2] ?? '');
  return rows;
}

test('status, flags and up on a malformed state.json: the documented exit code, the cause and the fix', async (t) => {
  const root = await makeRoot(t);
  await mkdir(join(root, 'var/lib/hostalias'), { recursive: true });
  await writeFile(join(root, 'var/lib/hostalias/state.json'), '{"version":1,"desired":{"names":["ok\\n1.2.3.4 evil"]}}');
  const documented = documentedExitCodes();
  for (const args of [['status'], ['status', '--json'], ['flags'], ['flags', '--format', 'compose'], ['up', '--dry-run']]) {
    const r = await cli([...args, '--files-root', root]);
    const meaning = documented.get(r.code) ?? '';
    assert.match(meaning, /`state\.json` is unreadable/, `${args.join(' ')} exits ${r.code}: the exit-code table says of it only "${meaning}"`);
    assert.match(r.stderr, /state\.json is unreadable \(desired\.names\.0: not an allowed host name\); nothing was changed/);
    assert.match(r.stderr, /\n {2}fix: .*\bdown\b/, "the fix names down, which recovers from hostalias's markers");
    if (args.includes('--json')) {
      const error = (JSON.parse(r.stdout) as { error: { exitCode: number; message: string } }).error;
      assert.equal(error.exitCode, r.code);
    }
  }
});
