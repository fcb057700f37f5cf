/**
 * The CLI bundle's start path: dist/cli/main.js loads cli.js and the command files
 * with the V8 code cache made at build time. Each cache is accepted by the Node that built it
 * (else it would only cost a read), a copy without caches runs the same, and the lazily loaded
 * modules (crypto, child_process) stay unloaded for `status` and `flags`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Script } from 'node:vm';
import { cliPath } from '../lab/netns.js';

const DIST = join(cliPath(), '..');

test('every bundle file main.js loads has a code cache this Node accepts', () => {
  const files = readdirSync(DIST).filter((f) => f === 'cli.js' || /^cmd-[\w-]+\.js$/.test(f));
  assert.ok(files.includes('cli.js') && files.includes('cmd-flags.js'), files.join(' '));
  for (const f of files) {
    const script = new Script(Module.wrap(readFileSync(join(DIST, f), 'utf8')), {
      filename: join(DIST, f),
      cachedData: readFileSync(join(DIST, `${f}.${process.arch}.cache`)),
    });
    assert.equal(script.cachedDataRejected, false, f);
  }
  const manifest = JSON.parse(readFileSync(join(DIST, 'runtime.json'), 'utf8')) as { files: string[] };
  for (const f of files) assert.ok(manifest.files.includes(`${f}.${process.arch}.cache`), `the installed copy gets ${f}.${process.arch}.cache`);
});

test('without the caches (another Node built them, or they were removed) the CLI answers the same', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hostalias-nocache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(DIST, dir, { recursive: true, filter: (src) => !src.endsWith('.cache') });
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.cache')));
  for (const args of [['--version'], ['flags', '--format', 'json'], ['status', '--json'], ['nope']]) {
    const a = spawnSync(process.execPath, [join(DIST, 'main.js'), ...args], { encoding: 'utf8' });
    const b = spawnSync(process.execPath, [join(dir, 'main.js'), ...args], { encoding: 'utf8' });
    assert.equal(b.status, a.status, args.join(' '));
    assert.equal(b.stdout.replace(/"stateFile": ".*"/, ''), a.stdout.replace(/"stateFile": ".*"/, ''), args.join(' '));
    // Fix lines name the main.js that ran (each copy its own).
    assert.equal(b.stderr.replaceAll(dir, DIST), a.stderr, args.join(' '));
  }
});

test('status and flags load neither crypto nor child_process; doctor, which starts processes, does', () => {
  const loaded = (args: string[]) => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `process.on('exit', () => require('fs').writeSync(3, JSON.stringify(process.moduleLoadList))); process.argv.splice(1, 0, ${JSON.stringify(join(DIST, 'main.js'))}); require(process.argv[1])`,
        '--',
        ...args,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
    );
    return String(r.output[3] ?? '');
  };
  for (const args of [['status'], ['flags'], ['--version']]) {
    const mods = loaded(args);
    assert.ok(mods.includes('NativeModule fs'), `the probe works (${args.join(' ')})`);
    for (const lazy of ['NativeModule crypto', 'NativeModule child_process']) assert.ok(!mods.includes(`"${lazy}"`), `${args.join(' ')} loads ${lazy}`);
  }
  // Negative control: a command that starts a process does load it.
  assert.ok(loaded(['doctor', '--json']).includes('"NativeModule child_process"'));
});
