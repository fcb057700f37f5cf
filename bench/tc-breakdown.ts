/**
 * Where the set-up time of `npm run bench:testcontainers` goes (BENCH_TRACE=1): the child records
 * Testcontainers' own debug log and our marks with their times; here each interval between two
 * consecutive events is given to the step the first one opens, up to the first answer. Pure.
 */
import { median } from './median.js';

export interface TraceEvent {
  ms: number;
  what: string;
}

/** The step each log line opens; checked in order, first match wins. */
const STEPS: Array<[RegExp, string]> = [
  [/^t0$/, 'START'],
  [/^imported$/, 'hostalias: open (state file, alias check)'],
  [/^opened$/, 'hostalias: expose (relays on the alias)'],
  [
    /^(Checking container runtime strategy|Found custom|Container runtime strategy .* not applicable|Fetching|Resolving host|Checking (default )?gateway|Pulling image "alpine|No auth config|Failed to (pull|run)|Looking up host|Initialising clients|Container runtime info)/,
    'Testcontainers client init (docker info, host)',
  ],
  [/^(Checking if image exists|Checked if image exists)/, '* image check'],
  [/^Creating container for image/, '* create'],
  [/^(Getting network|Got network|Connecting to network)/, '* connect to the sshd network'],
  [/^Starting container/, '* start'],
  [/^(Waiting for|Host port|Internal port)/, '* wait strategy'],
  [/^Connecting to Port Forwarder/, 'sshd: SSH connect (ssh2 handshake, auth)'],
  [/^Exposing host port/, 'sshd: remote forward'],
  [/^(request: exec nc|Executing command)/, 'first request (docker exec nc, both sides)'],
];
const OTHER = 'Testcontainers bookkeeping (locks, container list, inspect)';

/** Milliseconds per step for one traced set-up; `sshdImage` tells the sshd container's steps from the test container's. */
export function breakdown(trace: readonly TraceEvent[], mode: string, sshdImage: string): Map<string, number> {
  const out = new Map<string, number>();
  let container = 'test container';
  for (let i = 0; i + 1 < trace.length; i++) {
    const e = trace[i] as TraceEvent;
    if (e.what === 'first answer') break;
    const what = e.what.replace(/^\[[0-9a-f]+\] /, ''); // the container id Testcontainers puts first
    const image = /(?:image exists|container for image) "([^"]+)"/.exec(what)?.[1];
    if (image !== undefined) container = image === sshdImage ? 'sshd container' : 'test container';
    let step = STEPS.find(([re]) => re.test(what))?.[1] ?? OTHER;
    if (step === 'START') step = mode === 'testcontainers' ? OTHER : 'hostalias: import hostalias/testcontainers';
    step = step.replace('*', `${container}:`);
    out.set(step, (out.get(step) ?? 0) + ((trace[i + 1] as TraceEvent).ms - e.ms));
  }
  return out;
}

/**
 * What bounds the set-up ratio: the steps both sides take (Testcontainers' client, the test
 * container's create and start, the request) measured on our side, and the ratio we would reach
 * if our own steps (import, open, expose) took no time at all.
 */
function ceiling(ours: ReadonlyArray<Map<string, number>>, samples: ReadonlyArray<{ mode: string; firstMs: number }>): string {
  const own = median(ours.map((b) => [...b].filter(([k]) => k.startsWith('hostalias:')).reduce((a, [, v]) => a + v, 0)));
  const common = median(ours.map((b) => [...b].filter(([k]) => !k.startsWith('hostalias:')).reduce((a, [, v]) => a + v, 0)));
  const theirs = median(samples.filter((s) => s.mode === 'testcontainers').map((s) => s.firstMs));
  return `Steps both sides take (measured on ours): ${common.toFixed(0)} ms; hostalias's own steps: ${own.toFixed(0)} ms. With these common steps the set-up ratio can be at most ${(theirs / common).toFixed(1)}× (Testcontainers' total over the common steps alone), even if our own steps took 0 ms.`;
}

/** A markdown table: the median of each step over rounds, per mode, and the median total. */
export function breakdownTable(samples: ReadonlyArray<{ mode: string; firstMs: number; trace?: TraceEvent[] }>, sshdImage: string): string {
  const modes = ['hostalias', 'testcontainers'];
  const per = new Map(modes.map((m) => [m, samples.filter((s) => s.mode === m && s.trace).map((s) => breakdown(s.trace as TraceEvent[], m, sshdImage))]));
  const steps = [...new Set(modes.flatMap((m) => (per.get(m) ?? []).flatMap((b) => [...b.keys()])))];
  const cell = (m: string, step: string): string => {
    const runs = per.get(m) ?? [];
    return runs.some((b) => b.has(step)) ? `${median(runs.map((b) => b.get(step) ?? 0)).toFixed(0)} ms` : '–';
  };
  const total = (m: string): string => `${median(samples.filter((s) => s.mode === m).map((s) => s.firstMs)).toFixed(0)} ms`;
  return [
    '| step (median over traced rounds) | hostalias/testcontainers | Testcontainers exposeHostPorts |',
    '|---|---|---|',
    ...steps.map((s) => `| ${s} | ${cell('hostalias', s)} | ${cell('testcontainers', s)} |`),
    `| **total: nothing → first answer** | ${total('hostalias')} | ${total('testcontainers')} |`,
    '',
    ceiling(per.get('hostalias') ?? [], samples),
  ].join('\n');
}
