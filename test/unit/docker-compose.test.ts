import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { planInPlace, planOverride, overrideHeader } from '../../src/docker/compose-plan.js';
import { HostaliasError } from '../../src/model/errors.js';

const T = { ip: '10.254.254.254', names: ['local_host', 'host.docker.internal'] };
const ours = ['local_host:10.254.254.254', 'host.docker.internal:10.254.254.254'];

type Override = { version?: string; services?: Record<string, { extra_hosts?: unknown }> };

// (compose files) → (override's services, notes)
const CASES: Array<{ name: string; files: string[]; services: Record<string, unknown> | null; notes?: RegExp[]; version?: string }> = [
  { name: 'no extra_hosts: list form', files: ['services:\n  web:\n    image: x\n'], services: { web: { extra_hosts: ours } } },
  {
    name: 'list form keeps own entries first',
    files: ['services:\n  web:\n    image: x\n    extra_hosts:\n      - "db.example:192.0.2.5"\n'],
    services: { web: { extra_hosts: ['db.example:192.0.2.5', ...ours] } },
  },
  {
    name: 'map form stays a map',
    files: ['services:\n  web:\n    image: x\n    extra_hosts:\n      db.example: 192.0.2.5\n'],
    services: { web: { extra_hosts: { 'db.example': '192.0.2.5', local_host: '10.254.254.254', 'host.docker.internal': '10.254.254.254' } } },
  },
  {
    name: "the service's own mapping of a name wins",
    files: ['services:\n  web:\n    image: x\n    extra_hosts: ["local_host:192.0.2.9"]\n'],
    services: { web: { extra_hosts: ['local_host:192.0.2.9', 'host.docker.internal:10.254.254.254'] } },
    notes: [/service "web" maps local_host itself/],
  },
  {
    name: 'network_mode host / service: / container: are skipped; bridge and none are not',
    files: [
      'services:\n  a:\n    network_mode: host\n  b:\n    network_mode: "service:a"\n  c:\n    network_mode: container:abc\n  d:\n    network_mode: bridge\n  e:\n    network_mode: none\n',
    ],
    services: { d: { extra_hosts: ours }, e: { extra_hosts: ours } },
    notes: [/skipped service "a": network_mode: host/, /skipped service "b": network_mode: service:a/, /skipped service "c": network_mode: container:abc/],
  },
  {
    name: 'two files: entries add up, later network_mode wins, later form wins',
    files: [
      'version: "3.8"\nservices:\n  web:\n    image: x\n    extra_hosts: ["a.example:192.0.2.1"]\n  api:\n    image: y\n    network_mode: host\n',
      'version: "3.8"\nservices:\n  web:\n    extra_hosts:\n      b.example: 192.0.2.2\n  api:\n    network_mode: bridge\n  worker:\n    image: z\n',
    ],
    version: '3.8',
    services: {
      web: { extra_hosts: { 'a.example': '192.0.2.1', 'b.example': '192.0.2.2', local_host: '10.254.254.254', 'host.docker.internal': '10.254.254.254' } },
      api: { extra_hosts: ours },
      worker: { extra_hosts: ours },
    },
  },
  {
    name: 'everything mapped already: no override',
    files: ['services:\n  a:\n    extra_hosts: ["local_host:1.1.1.1", "host.docker.internal:1.1.1.1"]\n  h:\n    network_mode: host\n'],
    services: null,
  },
  {
    name: 'merge keys are resolved',
    files: ['x-base: &base\n  extra_hosts: ["base.example:192.0.2.3"]\nservices:\n  web:\n    <<: *base\n    image: x\n'],
    services: { web: { extra_hosts: ['base.example:192.0.2.3', ...ours] } },
  },
];

for (const c of CASES) {
  test(`compose override: ${c.name}`, () => {
    const plan = planOverride(
      c.files.map((text, i) => ({ path: `f${i}.yaml`, text })),
      T,
      ['docker compose -f f0.yaml -f compose.hostalias.yaml up'],
    );
    if (c.services === null) {
      assert.equal(plan.content, null);
      return;
    }
    assert.ok(plan.content?.startsWith(`${overrideHeader('compose.hostalias.yaml')}\n#   docker compose -f f0.yaml`), plan.content ?? '');
    const doc = parse(plan.content ?? '') as Override;
    assert.deepEqual(doc.services, c.services);
    assert.equal(doc.version, c.version);
    for (const re of c.notes ?? [])
      assert.ok(
        plan.notes.some((n) => re.test(n)),
        `${re} in ${plan.notes.join(' | ')}`,
      );
  });
}

test('compose override quotes every entry (YAML 1.1 readers like docker-compose v1 see strings)', () => {
  const plan = planOverride([{ path: 'c.yaml', text: 'version: "2.4"\nservices:\n  a:\n    image: x\n' }], { ip: '10.254.254.254', names: ['local'] });
  assert.match(plan.content ?? '', /\nversion: "2\.4"\nservices:\n {2}a:\n {4}extra_hosts:\n {6}- "local:10\.254\.254\.254"\n$/);
});

for (const [text, line, col] of [
  ['services:\n  web:\n    image: [x\n', 4, 1],
  ['services:\n  web:\n  image: x\n   bad: indent\n', 3, 10],
  ['services:\n\tweb: {}\n', 2, 1],
] as const) {
  test(`malformed YAML names line ${line}, column ${col}`, () => {
    assert.throws(
      () => planOverride([{ path: 'compose.yaml', text }], T),
      (e: unknown) =>
        e instanceof HostaliasError &&
        e.code === 'usage' &&
        e.message.startsWith(`compose.yaml:${line}:${col}: `) &&
        /invalid YAML/.test(e.message) &&
        /nothing was written/.test(e.message),
    );
  });
}

test('no services is a usage error', () => {
  assert.throws(() => planOverride([{ path: 'c.yaml', text: 'volumes: {}\n' }], T), /no services in c\.yaml/);
});

test("in place: comments and untouched lines survive, entries appended in the service's form", () => {
  const text = [
    '# my project',
    'services:',
    '  web: # the front end',
    '    image: nginx',
    '    extra_hosts:',
    '      - "db.example:192.0.2.5" # the database',
    '  api:',
    '    image: api',
    '    extra_hosts:',
    '      cache.example: 192.0.2.6',
    '  plain:',
    '    image: x   # keep me',
    '  hostnet:',
    '    network_mode: host',
    '',
  ].join('\n');
  const plan = planInPlace({ path: 'compose.yaml', text }, T);
  const out = plan.content ?? '';
  for (const comment of ['# my project', '# the front end', '# the database', '# keep me']) assert.ok(out.includes(comment), `${comment} kept:\n${out}`);
  const doc = parse(out) as Override;
  assert.deepEqual(doc.services?.['web']?.extra_hosts, ['db.example:192.0.2.5', ...ours]);
  assert.deepEqual(doc.services?.['api']?.extra_hosts, {
    'cache.example': '192.0.2.6',
    local_host: '10.254.254.254',
    'host.docker.internal': '10.254.254.254',
  });
  assert.deepEqual(doc.services?.['plain']?.extra_hosts, ours);
  assert.equal(doc.services?.['hostnet']?.extra_hosts, undefined);
  assert.equal(planInPlace({ path: 'compose.yaml', text: out }, T).content, null, 'a second run changes nothing');
});

test('malformed compose structures exit as usage errors naming file:line:col, never a crash', () => {
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ...['b', 'c', 'd', 'e', 'f'].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcde'[i]}`).join(',')}]`),
    'services:',
    '  web:',
    '    x: *f',
    '',
  ].join('\n');
  const cases: Array<[string, string, RegExp]> = [
    ['services as a list', 'services:\n  - web\n  - db\n', /^c\.yaml:2:3: "services" must be a mapping .* not a list/],
    ['a service as a scalar', 'services:\n  web: 3\n', /^c\.yaml:2:8: service "web" must be a mapping/],
    ['a self-referencing merge', 'services:\n  web: &w\n    <<: *w\n    image: x\n', /^c\.yaml:3:5: service "web" expands to too many aliases/],
    ['an alias bomb', bomb, /^c\.yaml:9:5: service "web" expands to too many aliases/],
    ['extra_hosts as a string', 'services:\n  web:\n    extra_hosts: "a:1.2.3.4"\n', /^c\.yaml:3:5: extra_hosts of service "web" must be a list or a mapping/],
    ['a duplicate service', 'services:\n  web: {}\n  web: {}\n', /^c\.yaml:3:3: the key "web" appears twice/],
    ['a list at the top', '- a\n', /^c\.yaml:1:1: a compose file is a mapping/],
  ];
  for (const [name, text, re] of cases) {
    for (const plan of [() => planOverride([{ path: 'c.yaml', text }], T), () => planInPlace({ path: 'c.yaml', text }, T)]) {
      assert.throws(plan, (e: Error & { code?: string }) => e.code === 'usage' && re.test(e.message), name);
    }
  }
});

test('10k services: the fast reader and the checked reader plan the same override', () => {
  const big = `services:\n${Array.from({ length: 10_000 }, (_, i) => `  s${i}:\n    image: busybox\n    extra_hosts:\n      - "db${i}:192.0.2.1"\n`).join('')}`;
  const fast = planOverride([{ path: 'c.yaml', text: big }], T);
  // The `*` in a comment sends the same file through the checked (yaml Document) path.
  const checked = planOverride([{ path: 'c.yaml', text: `# *checked\n${big}` }], T);
  assert.equal(fast.services.length, 10_000);
  assert.equal(fast.content, checked.content);
});
