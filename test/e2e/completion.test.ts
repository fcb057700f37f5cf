/**
 * `hostalias completion bash|zsh|fish` in real shells: bash loads it (`complete -p`) and completes
 * commands, flags and flag values through its completion function as <TAB> would; fish completes
 * with `complete -C`; zsh parses it (`zsh -n`). The scripts are made from the program's own
 * definitions, so every command and flag the CLI has is offered. Needs bash, zsh and fish.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../src/cli/main.js';
import { execArgv } from '../lab/exec.js';
import { cliPath } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';

const quiet = { out: () => undefined, err: () => undefined, exitCode: 0 };

async function script(shell: string): Promise<string> {
  const r = await execArgv([process.execPath, cliPath(), 'completion', shell]);
  return r.stdout;
}

/** What bash offers for `line` (the cursor at its end), through the loaded completion function. */
async function bashComplete(file: string, line: string): Promise<string[]> {
  const words = line.split(' ');
  const program = `source ${file}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
COMP_LINE='${line}'
_hostalias
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await execArgv(['bash', '--norc', '--noprofile', '-c', program]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

test('bash: complete -p names the function; hostalias ex<TAB> is expose; flags, choices and folders complete; every command and flag of the CLI is offered', async (t) => {
  const dir = await tempRoot(t, 'completion');
  const file = join(dir, 'hostalias.bash');
  await writeFile(file, await script('bash'));
  const registered = await execArgv(['bash', '--norc', '--noprofile', '-c', `source ${file}; complete -p hostalias`]);
  assert.equal(registered.stdout.trim(), 'complete -F _hostalias hostalias');

  assert.deepEqual(await bashComplete(file, 'hostalias ex'), ['expose']);
  assert.deepEqual(await bashComplete(file, 'hostalias un'), ['unexpose']);
  assert.deepEqual(await bashComplete(file, 'hostalias up --per'), ['--persist']);
  assert.deepEqual(await bashComplete(file, 'hostalias up --persist net'), ['netplan', 'networkd', 'networkmanager']);
  assert.deepEqual(await bashComplete(file, 'hostalias expose 5173 --via '), ['auto', 'kernel', 'relay']);
  assert.deepEqual(await bashComplete(file, 'hostalias doctor --pro'), ['--probe']);
  assert.deepEqual(await bashComplete(file, 'hostalias completion '), ['--help', '-h', 'bash', 'fish', 'zsh']);
  await writeFile(join(dir, 'state-here'), '');
  assert.deepEqual(await bashComplete(file, `hostalias up --files-root ${dir}/st`), [], 'a folder, not a file');
  assert.deepEqual(await bashComplete(file, `hostalias up --files-root ${dir.slice(0, -2)}`), [dir], 'folders complete');
  assert.deepEqual(await bashComplete(file, 'hostalias up --ip '), [], 'a free value: nothing offered');

  // Nothing the CLI has is missing: every command and each of its long flags, from commander itself.
  const program = await buildProgram(quiet);
  const top = await bashComplete(file, 'hostalias ');
  for (const c of program.commands.filter((x) => x.name() !== 'help')) {
    assert.ok(top.includes(c.name()), `command ${c.name()}`);
    const offered = await bashComplete(file, `hostalias ${c.name()} --`);
    for (const o of c.options.filter((x) => !x.hidden && x.long)) assert.ok(offered.includes(o.long as string), `${c.name()} ${o.long}`);
  }
});

test('zsh parses its script and fish completes with it; a shell hostalias has no script for is a usage error (exit 2)', async (t) => {
  const dir = await tempRoot(t, 'completion-sh');
  const zsh = join(dir, '_hostalias');
  await writeFile(zsh, await script('zsh'));
  const parsed = await execArgv(['zsh', '-n', zsh], { allowFail: true });
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.match(await script('zsh'), /^#compdef hostalias$/m);

  const fish = join(dir, 'hostalias.fish');
  await writeFile(fish, await script('fish'));
  assert.equal((await execArgv(['fish', '-n', fish], { allowFail: true })).code, 0);
  const complete = async (line: string) =>
    (await execArgv(['fish', '--no-config', '-c', `source ${fish}; complete -C '${line}'`])).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]);
  assert.deepEqual(await complete('hostalias ex'), ['expose']);
  assert.deepEqual((await complete('hostalias up --persist ')).sort(), [
    'auto',
    'ifupdown',
    'launchd',
    'netplan',
    'networkd',
    'networkmanager',
    'none',
    'systemd',
  ]);
  assert.ok((await complete('hostalias doctor --')).includes('--probe'));

  const bad = await execArgv([process.execPath, cliPath(), 'completion', 'tcsh'], { allowFail: true });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
  assert.equal(bad.stdout, '', 'no script printed');
});
