/** The checksum the run cache keeps is the one POSIX `cksum` prints: the launcher compares the two. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { posixCksum } from '../../src/model/cksum.js';
import { makeRoot } from '../support/rooted.js';

test('posixCksum gives what cksum prints, for empty, short, multi-byte-length and binary contents', async (t) => {
  const root = await makeRoot(t);
  const samples = [
    Buffer.alloc(0),
    Buffer.from('a'),
    Buffer.from('{"version":1}\n'),
    Buffer.alloc(70_000, 0xab),
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  ];
  for (const [i, bytes] of samples.entries()) {
    const file = join(root, `f${i}`);
    await writeFile(file, bytes);
    const [crc, size] = execFileSync('cksum', ['--', file], { encoding: 'utf8' }).split(' ');
    assert.deepEqual([posixCksum(bytes), bytes.length], [Number(crc), Number(size)], `sample ${i}`);
  }
});
