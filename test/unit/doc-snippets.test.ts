/**
 * Every `hostalias …` command line in the README and docs/ is one the CLI accepts: the command,
 * each option and each value, parsed by the real commander program with its actions replaced
 * (parseCommandLine). A line marked `# refused …` must be refused. What is read, and how, is
 * test/support/doc-snippets.ts.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { main, parseCommandLine } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { docCommands, docPages, hostaliasInvocations, shellWords } from '../support/doc-snippets.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('the snippet reader finds hostalias commands as a shell would run them', () => {
  const md = [
    'Prose with `hostalias up --bogus` is not a code block.',
    '```sh',
    'sudo hostalias up --ip 10.254.254.1     # a comment: hostalias down',
    'docker run $(hostalias flags) --rm busybox sh',
    "hostalias status; echo $? && HOSTALIAS_NO_SUDO=1 sudo -E hostalias up --names 'a,b'",
    'npx --package ./hostalias-0.1.0.tgz hostalias flags',
    'npm install -g hostalias                 # not a hostalias command',
    'node dist/cli/main.js up --dry-run',
    'hostalias expose 70000                   # refused: out of range',
    'hostalias forward 5432 \\',
    '  --to 127.0.0.1:5433',
    '```',
    '```yaml',
    '- run: npx hostalias up --persist none',
    '  - hostalias doctor',
    'image: hostalias',
    '```',
    '```text',
    '$ hostalias up',
    'Containers reach this host as local_host → 10.254.254.254:',
    '  hostalias run --rm IMAGE …    (output, not a command)',
    '```',
    '```',
    'src/cli/     the hostalias command line',
    '```',
    '```ts',
    "import { exposeHostPorts } from 'hostalias/testcontainers';",
    '```',
  ].join('\n');
  const got = docCommands('x.md', md).map((c) => ({ line: c.line, argv: c.argv, refused: c.refused }));
  assert.deepEqual(got, [
    { line: 3, argv: ['up', '--ip', '10.254.254.1'], refused: false },
    { line: 4, argv: ['flags'], refused: false },
    { line: 5, argv: ['status'], refused: false },
    { line: 5, argv: ['up', '--names', 'a,b'], refused: false },
    { line: 6, argv: ['flags'], refused: false },
    { line: 8, argv: ['up', '--dry-run'], refused: false },
    { line: 9, argv: ['expose', '70000'], refused: true },
    { line: 10, argv: ['forward', '5432', '--to', '127.0.0.1:5433'], refused: false },
    { line: 14, argv: ['up', '--persist', 'none'], refused: false },
    { line: 15, argv: ['doctor'], refused: false },
    { line: 19, argv: ['up'], refused: false },
  ]);
  assert.deepEqual(hostaliasInvocations(shellWords('echo "hostalias up"; (hostalias down)').tokens), [['down']]);
});

test('parseCommandLine: accepted lines give the command and its values; refused ones the message main prints, with exit 2', async () => {
  const ok = await parseCommandLine(['expose', '5432', '6379/udp', '--via', 'relay']);
  assert.deepEqual(ok.ok && { command: ok.command, args: ok.args, via: ok.options['via'] }, { command: 'expose', args: [['5432', '6379/udp']], via: 'relay' });
  assert.deepEqual(await parseCommandLine(['--version']), { ok: true, command: null, args: [], options: {} });

  const refused: string[][] = [
    ['up', '--ip', '300.1.2.3', '--dry-run'],
    ['up', '--names', 'a b', '--dry-run'],
    ['up', '--label', 'eth0:x', '--dry-run'],
    ['up', '--persist', 'launchctl', '--dry-run'],
    ['up', '--bogus'],
    ['expose', '70000', '--dry-run'],
    ['expose', '5432', '--to', 'x', '--dry-run'],
    ['unexpose', '5432/sctp', '--dry-run'],
    ['forward', '5432', '--to', 'db.example:5432'],
    ['forward', '5432', '--workers', '0'],
    ['forward', '5432', '--listen', 'local_host'],
    ['doctor', '--probe', '5432,70000'],
    ['status', '--ip', '127.0.0.2'],
    ['nonsense'],
  ];
  for (const argv of refused) {
    const parsed = await parseCommandLine(argv);
    assert.equal(parsed.ok, false, `${argv.join(' ')} is refused`);
    // The CLI itself refuses it the same way, before changing anything (the checks run at parse time).
    const err: string[] = [];
    const io: CliIO = { out: () => undefined, err: (t) => err.push(t), exitCode: 0 };
    assert.equal(await main(argv, io), 2, `${argv.join(' ')}: exit 2`);
    if (!parsed.ok) assert.ok(err.join('\n').includes(parsed.message.replace(/^error: /, '')), `${argv.join(' ')}: main printed ${err.join('\n')}`);
  }
});

test('every hostalias command line in README.md and docs/*.md is accepted by the CLI (or refused where marked)', async (t) => {
  const commands = docPages(ROOT).flatMap(([file, text]) => docCommands(file, text));
  const failures: string[] = [];
  for (const c of commands) {
    const r = await parseCommandLine(c.argv);
    if (c.refused && r.ok) failures.push(`${c.file}:${c.line}: marked refused, but the CLI accepts it: ${c.text.trim()}`);
    if (!c.refused && !r.ok) failures.push(`${c.file}:${c.line}: ${c.text.trim()}\n    ${r.message}`);
  }
  assert.deepEqual(failures, []);
  const files = new Set(commands.map((c) => c.file));
  t.diagnostic(`${commands.length} command lines checked in ${files.size} files (${commands.filter((c) => c.refused).length} marked refused)`);
  // The pages that teach commands must be among those read (a reader that finds nothing passes nothing).
  for (const page of ['README.md', 'docs/alias.md', 'docs/docker.md', 'docs/loopback-services.md', 'docs/doctor.md', 'docs/macos.md', 'docs/ci.md'])
    assert.ok(files.has(page), `commands were found in ${page}`);
  assert.ok(
    commands.some((c) => c.refused),
    'a refused example is checked as refused',
  );
});
