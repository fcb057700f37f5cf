import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFlags, entryName, parseFlagFormat } from '../../src/docker/add-hosts.js';
import { buildRunArgv, userAddHostNames } from '../../src/docker/run-argv.js';
import { HostaliasError } from '../../src/model/errors.js';
import { shellQuote } from '../../src/model/shell.js';

const T = { ip: '10.254.254.254', names: ['local_host', 'local', 'host.docker.internal'] };

test('flags: each format', () => {
  assert.equal(formatFlags(T, 'args'), '--add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254');
  assert.equal(formatFlags({ ip: '192.0.2.7', names: ['api.local'] }, 'compose'), 'extra_hosts:\n  - "api.local:192.0.2.7"');
  assert.deepEqual(JSON.parse(formatFlags({ ip: '192.0.2.7', names: ['a', 'b'] }, 'json')), {
    ip: '192.0.2.7',
    names: ['a', 'b'],
    extraHosts: ['a:192.0.2.7', 'b:192.0.2.7'],
    args: ['--add-host=a:192.0.2.7', '--add-host=b:192.0.2.7'],
  });
  assert.throws(
    () => parseFlagFormat('yaml'),
    (e: unknown) => e instanceof HostaliasError && e.code === 'usage',
  );
});

test('entry names in both separators docker accepts', () => {
  for (const [entry, name] of [
    ['local:1.2.3.4', 'local'],
    ['local=1.2.3.4', 'local'],
    ['v6=::1', 'v6'],
    ['v6:::1', 'v6'],
    [' spaced : 1.2.3.4', 'spaced'],
  ] as const) {
    assert.equal(entryName(entry), name, entry);
  }
});

// (user arguments) → (docker argv as a shell line, names the user maps)
const RUN_CASES: Array<[string, string[], string, string[]]> = [
  [
    'plain',
    ['--rm', 'img', 'sh'],
    'docker run --add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 --rm img sh',
    [],
  ],
  [
    '--add-host NAME:ADDR (separate value)',
    ['--add-host', 'local:192.0.2.9', 'img'],
    'docker run --add-host=local_host:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 --add-host local:192.0.2.9 img',
    ['local'],
  ],
  [
    '--add-host=NAME:ADDR',
    ['--add-host=host.docker.internal:host-gateway', 'img'],
    'docker run --add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:host-gateway img',
    ['host.docker.internal'],
  ],
  [
    '--add-host NAME=ADDR (Engine 25+)',
    ['--add-host', 'local_host=192.0.2.9', 'img'],
    'docker run --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 --add-host local_host=192.0.2.9 img',
    ['local_host'],
  ],
  [
    'all names mapped by the user',
    ['--add-host=local_host:1.1.1.1', '--add-host=local:1.1.1.1', '--add-host=host.docker.internal:1.1.1.1', 'img'],
    'docker run --add-host=local_host:1.1.1.1 --add-host=local:1.1.1.1 --add-host=host.docker.internal:1.1.1.1 img',
    ['local_host', 'local', 'host.docker.internal'],
  ],
  [
    '--add-host after the image belongs to the command',
    ['--rm', 'img', 'sh', '-c', 'echo --add-host=local:x'],
    "docker run --add-host=local_host:10.254.254.254 --add-host=local:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 --rm img sh -c 'echo --add-host=local:x'",
    [],
  ],
  [
    'value-taking options are skipped, not taken for the image',
    ['-e', 'A=1', '-v', '/x:/y', '--name', 'n', '-it', '-p8080:80', '--add-host', 'local:192.0.2.1', 'img'],
    'docker run --add-host=local_host:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 -e A=1 -v /x:/y --name n -it -p8080:80 --add-host local:192.0.2.1 img',
    ['local'],
  ],
  [
    'boolean group then value option (-dit -h host)',
    ['-dit', '-h', 'box', '--add-host=local:192.0.2.1', 'img'],
    'docker run --add-host=local_host:10.254.254.254 --add-host=host.docker.internal:10.254.254.254 -dit -h box --add-host=local:192.0.2.1 img',
    ['local'],
  ],
];

for (const [name, userArgs, line, userNames] of RUN_CASES) {
  test(`run argv: ${name}`, () => {
    const built = buildRunArgv(T, userArgs);
    assert.equal(shellQuote(['docker', ...built.args]), line);
    assert.deepEqual(built.userNames, userNames);
    assert.deepEqual(
      built.added,
      T.names.filter((n) => !userNames.includes(n)),
    );
    assert.deepEqual(built.args.slice(-userArgs.length), userArgs, "the user's arguments are passed unchanged, last");
  });
}

test('user --add-host names: "--" ends the options', () => {
  assert.deepEqual(userAddHostNames(['--rm', '--', '--add-host=local:1']), []);
});
