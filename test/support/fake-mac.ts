import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parsePlist } from 'plist';
import type { RunOptions, RunResult, Runner } from '../../src/exec/runner.js';
import { shellQuote } from '../../src/model/shell.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { FakeRunner, ok } from './fake-runner.js';

const FIXTURES = new URL('../../../test/fixtures/darwin/', import.meta.url);

/** A fixture of real-format macOS output (see test/fixtures/darwin/README.md). */
export function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/**
 * A temp folder standing in for a Mac's `/`: unlike `--root`, the planner treats it as the live
 * system, so launchctl steps are planned and run against the FakeMac instead of being skipped.
 */
export class MacRootFs extends SystemFs {
  override get isRooted(): boolean {
    return false;
  }
}

const ANCHOR = 'com.apple/hostalias';
const ALTQ = fixture('pfctl-altq.stderr.txt');

/**
 * A Mac simulated from fixtures: ifconfig, launchctl and pfctl keep state (an alias added shows in
 * the next `ifconfig lo0`, a bootstrapped job prints as loaded, a loaded anchor lists its rules).
 * Any command it doesn't know fails the test (FakeRunner). `failOnce` injects one failure.
 */
export class FakeMac implements Runner {
  readonly fake = new FakeRunner();
  /** Extra lo0 addresses: ip → hex netmask. */
  readonly aliases = new Map<string, string>();
  readonly loaded = new Set<string>();
  /** KeepAlive jobs launchd keeps running (label → ProgramArguments); bootout stops them. */
  readonly daemons = new Map<string, string[]>();
  anchor: string[] = [];
  tokens: string[] = [];
  rest = fixture('ifconfig-a-rest.txt');
  private nextToken = 10760036128423510625n;
  private readonly failures: Array<{ line: string; result: RunResult }> = [];

  constructor(readonly fs: SystemFs) {
    const f = this.fake;
    f.on(['ifconfig', 'lo0'], () => ok(this.lo0()));
    f.on(['ifconfig', '-a'], () => ok(this.lo0() + this.rest));
    f.onMatch(/^ifconfig lo0 alias (\S+) netmask 255\.255\.255\.255$/, (argv) => {
      this.aliases.set(argv[3] as string, '0xffffffff');
      return ok();
    });
    f.onMatch(/^ifconfig lo0 -alias \S+$/, (argv) => (this.aliases.delete(argv[3] as string) ? ok() : { code: 1, stdout: '', stderr: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n" }));
    f.onMatch(/^launchctl print system\/\S+$/, (argv) => {
      const label = (argv[2] as string).slice('system/'.length);
      if (this.loaded.has(label)) return ok(fixture('launchctl-print-loaded.txt').replaceAll('dev.hostalias.alias', label));
      return { code: 113, stdout: '', stderr: fixture('launchctl-print-missing.stderr.txt').replace('dev.hostalias.alias', label) };
    });
    f.onMatch(/^launchctl bootout system\/\S+$/, (argv) => {
      const label = (argv[2] as string).slice('system/'.length);
      this.daemons.delete(label);
      return this.loaded.delete(label) ? ok() : { code: 113, stdout: '', stderr: 'Boot-out failed: 113: Could not find specified service\n' };
    });
    f.on(['pfctl', '-a', ANCHOR, '-s', 'nat'], () => ({ code: 0, stdout: this.anchor.map((r) => `${r}\n`).join(''), stderr: ALTQ }));
    f.on(['pfctl', '-a', ANCHOR, '-f', '-'], (_argv, opts) => this.loadAnchor(opts?.input ?? ''));
    f.on(['pfctl', '-a', ANCHOR, '-f', '/etc/pf.anchors/dev.hostalias'], () => {
      const text = readFileSync(this.fs.resolve('/etc/pf.anchors/dev.hostalias'), 'utf8');
      return this.loadAnchor(text);
    });
    f.on(['pfctl', '-a', ANCHOR, '-F', 'all'], () => {
      this.anchor = [];
      return { code: 0, stdout: '', stderr: fixture('pfctl-F-all.stderr.txt') };
    });
    f.on(['pfctl', '-s', 'nat'], () => ({ code: 0, stdout: fixture('pfctl-s-nat-main.txt'), stderr: ALTQ }));
    f.on(['pfctl', '-s', 'info'], () => ({ code: 0, stdout: fixture(this.tokens.length > 0 ? 'pfctl-s-info-enabled.txt' : 'pfctl-s-info-disabled.txt'), stderr: ALTQ }));
    f.on(['pfctl', '-s', 'References'], () => ({
      code: 0,
      stdout: fixture('pfctl-s-references-header.txt') + this.tokens.map((t, i) => `${String(400 + i).padEnd(9)}pfctl                       ${t.padEnd(26)}0 days 00:0${i}:12\n`).join(''),
      stderr: ALTQ,
    }));
    f.on(['pfctl', '-E'], () => {
      const token = String(this.nextToken++);
      this.tokens.push(token);
      return { code: 0, stdout: '', stderr: fixture('pfctl-E.stderr.txt').replace('10760036128423510625', token) };
    });
    f.onMatch(/^pfctl -X \d+$/, (argv) => {
      const i = this.tokens.indexOf(argv[2] as string);
      if (i < 0) return { code: 1, stdout: '', stderr: `${ALTQ}pfctl: DIOCSTOPREF: Invalid argument\n` };
      this.tokens.splice(i, 1);
      return { code: 0, stdout: '', stderr: fixture(this.tokens.length > 0 ? 'pfctl-X-still-enabled.stderr.txt' : 'pfctl-X.stderr.txt') };
    });
    f.on(['sw_vers'], () => ok(fixture('sw_vers.txt')));
  }

  /** `ifconfig lo0` now: the fixture with the current aliases inserted before nd6, as macOS lists them. */
  lo0(): string {
    const lines = [...this.aliases].map(([ip, mask]) => `\tinet ${ip} netmask ${mask} \n`).join('');
    return fixture('ifconfig-lo0.txt').replace('\tnd6 options', `${lines}\tnd6 options`);
  }

  /** Makes the next run of exactly this command fail with `result`. */
  failOnce(argv: readonly string[], result: RunResult): void {
    this.failures.push({ line: shellQuote(argv), result });
  }

  /** Commands that change something (not probes), as shell lines. */
  get changes(): string[] {
    return this.fake.lines.filter((l) => !/^(ifconfig (lo0|-a)|launchctl print \S+|pfctl (-a \S+ )?-s \S+|sw_vers)$/.test(l));
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const line = shellQuote(argv);
    const i = this.failures.findIndex((f) => f.line === line);
    if (i >= 0) {
      this.fake.calls.push([...argv]);
      return (this.failures.splice(i, 1)[0] as { result: RunResult }).result;
    }
    const boot = /^launchctl bootstrap system (\S+)$/.exec(line);
    if (boot) {
      this.fake.calls.push([...argv]);
      return this.bootstrap(boot[1] as string);
    }
    return this.fake.run(argv, opts);
  }

  private loadAnchor(text: string): RunResult {
    this.anchor = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    return { code: 0, stdout: '', stderr: ALTQ };
  }

  /** launchd's checks that matter here: the plist parses, its Label matches; RunAtLoad runs it now. */
  private async bootstrap(path: string): Promise<RunResult> {
    const text = await this.fs.read(path);
    if (text === null) return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    const job = parsePlist(text) as { Label?: string; ProgramArguments?: string[]; RunAtLoad?: boolean; KeepAlive?: boolean };
    if (job.Label !== basename(path, '.plist') || !Array.isArray(job.ProgramArguments)) return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    if (this.loaded.has(job.Label)) return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    this.loaded.add(job.Label);
    if (job.KeepAlive) {
      // A daemon (the forward relay): launchd starts it and keeps it running; it is not a command to run to completion.
      this.daemons.set(job.Label, job.ProgramArguments);
    } else if (job.RunAtLoad) {
      const [program, ...args] = job.ProgramArguments;
      await this.run([basename(program as string), ...args]);
    }
    return ok();
  }
}

