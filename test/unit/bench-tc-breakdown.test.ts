/**
 * bench/tc-breakdown.ts: the set-up breakdown of `npm run bench:testcontainers`, fed with lines
 * of a real traced run (Testcontainers 11.14's debug log, container ids and all). Pure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakdown, breakdownTable, type TraceEvent } from '../../bench/tc-breakdown.js';

const SSHD = 'hostalias-lab/sshd:debian';
const ev = (ms: number, what: string): TraceEvent => ({ ms, what });

const THEIRS: TraceEvent[] = [
  ev(0, 't0'),
  ev(5.2, 'Acquiring lock file "/tmp/testcontainers-node-sshd.lock"...'),
  ev(17.8, 'Checking container runtime strategy "TestcontainersHostStrategy"...'),
  ev(18.3, 'Fetching Docker info...'),
  ev(37.4, 'Container runtime strategy "ConfigurationStrategy" works'),
  ev(44.4, `Checking if image exists "${SSHD}"...`),
  ev(47, `Image "${SSHD}" already exists`),
  ev(47.3, `Creating container for image "${SSHD}"...`),
  ev(90.1, `[2768e4fb830f] Created container for image "${SSHD}"`),
  ev(90.1, '[2768e4fb830f] Starting container...'),
  ev(377.6, '[2768e4fb830f] Started container'),
  ev(380.1, '[2768e4fb830f] Waiting for container to be ready...'),
  ev(390.4, '[2768e4fb830f] Host port wait strategy complete'),
  ev(575.8, '[2768e4fb830f] Internal port 22/tcp ready'),
  ev(575.8, '[2768e4fb830f] Container is ready'),
  ev(575.9, 'Connecting to Port Forwarder on "localhost:32768"...'),
  ev(673.1, 'Connected to Port Forwarder on "localhost:32768"'),
  ev(674, 'Exposing host port 41599...'),
  ev(676.9, 'Exposed host port 41599'),
  ev(677, 'expose done'),
  ev(679.3, 'Creating container for image "hostalias-busybox:test"...'),
  ev(703.9, '[5e5bd779f922] Created container for image "hostalias-busybox:test"'),
  ev(704.4, '[5e5bd779f922] Connecting to network "d46b3934e90c"...'),
  ev(708.1, '[5e5bd779f922] Starting container...'),
  ev(1245.5, '[5e5bd779f922] Started container'),
  ev(1248.2, 'request: exec nc'),
  ev(1313.2, 'request: exec done, exit 0'),
  ev(1313.2, 'first answer'),
  ev(1400, '[5e5bd779f922] Stopping container...'),
];

const close = (actual: number | undefined, expected: number, what: string): void =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 0.01, `${what}: ${actual} ≠ ${expected}`);

test('each interval goes to the step its first line opens, the sshd container told from the test container', () => {
  const b = breakdown(THEIRS, 'testcontainers', SSHD);
  close(b.get('sshd container: create'), 90.1 - 47.3, 'sshd create');
  close(b.get('sshd container: start'), 377.6 - 90.1, 'sshd start');
  close(b.get('sshd container: wait strategy'), 575.8 - 380.1, 'sshd wait');
  close(b.get('sshd: SSH connect (ssh2 handshake, auth)'), 673.1 - 575.9, 'ssh');
  close(b.get('test container: create'), 703.9 - 679.3, 'test create');
  close(b.get('test container: connect to the sshd network'), 708.1 - 704.4, 'network');
  close(b.get('test container: start'), 1245.5 - 708.1, 'test start');
  close(b.get('first request (docker exec nc, both sides)'), 1313.2 - 1248.2, 'request');
  // Nothing after the first answer is counted, and the steps add up to the whole.
  close(
    [...b.values()].reduce((a, v) => a + v, 0),
    1313.2,
    'sum',
  );
});

test('on our side the span before the first log line is the import; the table puts both sides and the ceiling', () => {
  const ours = [
    ev(0, 't0'),
    ev(7, 'imported'),
    ev(9, 'opened'),
    ev(11, 'expose done'),
    ev(12, 'Checking container runtime strategy "X"...'),
    ev(30, 'Creating container for image "hostalias-busybox:test"...'),
    ev(50, '[ab] Starting container...'),
    ev(250, '[ab] Started container'),
    ev(251, 'request: exec nc'),
    ev(300, 'request: exec done, exit 0'),
    ev(300, 'first answer'),
  ];
  const b = breakdown(ours, 'hostalias', SSHD);
  assert.equal(b.get('hostalias: import hostalias/testcontainers'), 7);
  assert.equal(b.get('hostalias: open (state file, alias check)'), 2);
  assert.equal(b.get('hostalias: expose (relays on the alias)'), 2);
  const table = breakdownTable(
    [
      { mode: 'hostalias', firstMs: 300, trace: ours },
      { mode: 'testcontainers', firstMs: 1313.2, trace: THEIRS },
    ],
    SSHD,
  );
  assert.match(table, /\| sshd container: start \| – \| 288 ms \|/);
  // Common steps on our side: 300 - 11 ms of our own; 1313.2 / 289 = 4.5.
  assert.match(table, /both sides take \(measured on ours\): 289 ms; hostalias's own steps: 11 ms\. .* at most 4\.5×/);
});
