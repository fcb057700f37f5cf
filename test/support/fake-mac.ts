import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parse as parsePlist } from 'plist';
import type { RunOptions, RunResult, Runner } from '../../src/model/runner.js';
import { shellQuote } from '../../src/model/shell.js';
import { SystemFs } from '../../src/fs/system-fs.js';
import { FakeRunner, ok } from './fake-runner.js';
import { listenError } from '../../src/forward/forwarder.js';
import { EXIT_CODES } from '../../src/model/errors.js';

const FIXTURES = new URL('../../../test/fixtures/darwin/', import.meta.url);

/** A fixture of real-format macOS output (see test/fixtures/darwin/README.md). */
export function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/** The docker CLI's answers for an engine product (fixtures and their sources: test/fixtures/docker/README.md). */
export function dockerEngine(kind: 'desktop' | 'orbstack' | 'colima' | 'lima' | 'rancher' | 'podman-machine' | 'engine'): {
  version: string;
  info: string;
  context: string;
} {
  const docker = (name: string) => readFileSync(new URL(`../docker/${name}`, FIXTURES), 'utf8');
  const context = {
    desktop: 'desktop-linux',
    orbstack: 'orbstack',
    colima: 'colima',
    lima: 'lima-docker',
    rancher: 'rancher-desktop',
    'podman-machine': 'default',
    engine: 'default',
  }[kind];
  const version = { desktop: 'version-desktop.json', 'podman-machine': 'version-podman.json' }[kind as string] ?? 'version-engine-20.10.json';
  return { version: docker(version), info: docker(kind === 'engine' ? 'info-engine-20.10.json' : `info-${kind}.json`), context };
}

/** The keys of a LaunchDaemon plist the fake launchd reads. */
export interface LaunchdPlist {
  Label?: string;
  ProgramArguments?: string[];
  RunAtLoad?: boolean;
  KeepAlive?: boolean;
  UserName?: string;
  StandardOutPath?: string;
  StandardErrorPath?: string;
  EnvironmentVariables?: Record<string, string>;
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
const isNat = (rule: string) => /^(rdr|nat|binat|no) /.test(rule);
const ALTQ = fixture('pfctl-altq.stderr.txt');

/** A listening socket: address ('*' is INADDR_ANY), port, protocol and the uid that owns it. */
export interface Socket {
  addr: string;
  port: number;
  proto: 'tcp' | 'udp';
  uid: number;
}

/** Users by name, as macOS's /etc/passwd has them (nobody is uid -2). */
export const MAC_UIDS: Record<string, number> = { root: 0, nobody: -2, _www: 70 };

/**
 * What XNU answers a relay binding ADDR:PORT as `uid`, next to `holders` (bsd/netinet/in_pcb.c,
 * in_pcbbind, macOS branch): a specific address below 1024 needs PRIV_NETINET_RESERVEDPORT —
 * root — else EACCES; a user other than root binding a specific address where another user holds
 * that address or *:PORT gets EADDRINUSE; then anyone gets EADDRINUSE from an exact holder, or from
 * a wildcard holder when the socket has neither SO_REUSEADDR nor SO_REUSEPORT (the lookup is then
 * a wildcard one). Node's TCP listeners have SO_REUSEADDR (libuv's uv__tcp_bind sets it); its UDP
 * sockets don't unless asked (dgram reuseAddr), and the relay doesn't ask. Null: bound.
 */
export function xnuBindError(uid: number, addr: string, port: number, proto: 'tcp' | 'udp', holders: readonly Socket[]): 'EACCES' | 'EADDRINUSE' | null {
  if (port < 1024 && addr !== '*' && uid !== 0) return 'EACCES';
  const same = holders.filter((h) => h.port === port && h.proto === proto);
  if (uid !== 0 && same.some((h) => (h.addr === addr || h.addr === '*') && h.uid !== uid)) return 'EADDRINUSE';
  const reuseAddr = proto === 'tcp';
  if (same.some((h) => h.addr === addr || (!reuseAddr && h.addr === '*'))) return 'EADDRINUSE';
  return null;
}

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
  /** ProgramArguments of the jobs bootstrapped here (label → argv), which `launchctl print` lists. */
  readonly programs = new Map<string, string[]>();
  /**
   * launchd opens a job's StandardOutPath / StandardErrorPath when it starts it, creating the file
   * (launchd.plist(5)); off by default so the other tests' file trees stay as they were.
   */
  createsLogs = false;
  /** KeepAlive jobs launchd keeps running (label → ProgramArguments); bootout stops them. */
  readonly daemons = new Map<string, string[]>();
  /** The relays among them that are listening (their bind succeeded), by label. */
  readonly listening = new Map<string, Socket>();
  /**
   * The images the node hostalias runs from loads, its own executable first (dyld's list, as
   * NativeProbes.loadedLibraries gives it): what a copy of it needs. Empty: a node linking only
   * macOS's libraries is assumed (the official nodejs.org build).
   */
  nodeImages: string[] = [];
  /** dyld ignores DYLD_* variables for this node (a hardened-runtime or setuid binary, Apple's Hardened Runtime docs). */
  dyldIgnoresEnv = false;
  /** Labels launchd has disabled (`launchctl disable`, or a background item switched off under Login Items). */
  readonly disabled = new Set<string>();
  /** `last exit code` of jobs launchd started and that exited (launchctl print shows it). */
  readonly lastExit = new Map<string, number>();
  /** Sockets other processes hold (what `lsof -i` would list): a Valet nginx on *:80 as root, a user's Postgres… */
  readonly sockets: Socket[] = [];
  /**
   * Owner and mode of folders and files, as `ls -l` shows them on a stock Mac; a path not listed is
   * root's, 0755 for a folder and 0644 for a file (what root creates under umask 022).
   */
  readonly owners = new Map<string, { uid: number; mode: number }>([
    ['/var/log', { uid: 0, mode: 0o755 }],
    ['/tmp', { uid: 0, mode: 0o1777 }],
  ]);
  anchor: string[] = [];
  tokens: string[] = [];
  rest = fixture('ifconfig-a-rest.txt');
  /** Never loaded since boot: pfctl answers DIOCGETRULES for it (exit `missingAnchorExit`). */
  anchorExists = false;
  missingAnchorExit = 1;
  /** The caller is not root: every pfctl fails opening /dev/pf. */
  asUser = false;
  /** The main ruleset (`pfctl -s nat`, `pfctl -s rules`, `set skip`): the stock /etc/pf.conf by default. */
  mainNat = fixture('pfctl-s-nat-main.txt');
  skipLo0 = false;
  /**
   * Whether rules in the child anchor com.apple/hostalias fire (one real-Mac report says a
   * com.apple/ child never did; others use such children). False: counters stay at 0 and a
   * connection to a redirected port is refused, as with nothing listening on the alias.
   */
  childAnchorFires = true;
  /** pf's counters of each rule in our anchor (`pfctl -v`), as pf.c keeps them: see traffic(). */
  readonly counters = new Map<string, { evaluations: number; packets: number; bytes: number; states: number }>();
  /** Packets of this Mac's ordinary traffic (en0: DNS, TLS…) that pf sees while each probe runs: a Mac is never quiet. */
  backgroundPackets = 5;
  /**
   * launchd still unloading a booted-out job: the next N bootstraps of that label fail with
   * `Bootstrap failed: 5: Input/output error` (the race in fixture launchctl-bootstrap-after-bootout).
   */
  drainBootstraps = 0;
  private readonly draining = new Map<string, number>();
  /**
   * Services on 127.0.0.1 by port: given the client's source address and what it sent, what they
   * answer (a Homebrew Postgres trusting only 127.0.0.1/32 answers the alias with pg_hba's refusal).
   */
  readonly services = new Map<number, (source: string, input: string) => string>();
  /** The container engine the docker CLI reaches (test/fixtures/docker), or null: none answers. */
  engine: { version: string; info: string; context: string } | null = null;
  private nextToken = 10760036128423510625n;
  private readonly failures: Array<{ line: string; result: RunResult }> = [];

  constructor(readonly fs: SystemFs) {
    const f = this.fake;
    f.on(['ifconfig', 'lo0'], () => ok(this.lo0()));
    f.on(['ifconfig', '-a'], () => ok(this.lo0() + this.rest));
    f.onMatch(/^ifconfig lo0 alias (\S+) netmask (255\.255\.255\.255|255\.0\.0\.0)$/, (argv) => {
      this.aliases.set(argv[3] as string, argv[5] === '255.0.0.0' ? '0xff000000' : '0xffffffff');
      return ok();
    });
    f.onMatch(/^ifconfig lo0 -alias \S+$/, (argv) =>
      this.aliases.delete(argv[3] as string) ? ok() : { code: 1, stdout: '', stderr: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n" },
    );
    f.onMatch(/^launchctl print system\/\S+$/, (argv) => {
      const label = (argv[2] as string).slice('system/'.length);
      if (this.loaded.has(label)) return ok(this.printLoaded(label));
      return { code: 113, stdout: '', stderr: fixture('launchctl-print-missing.stderr.txt').replace('dev.hostalias.alias', label) };
    });
    f.on(['launchctl', 'print-disabled', 'system'], () => {
      const ours = [...this.disabled].map((l) => `\t"${l}" => disabled\n`).join('');
      return ok(fixture('launchctl-print-disabled-system.txt').replace('}\n', `${ours}}\n`));
    });
    f.onMatch(/^launchctl (enable|disable) system\/\S+$/, (argv) => {
      const label = (argv[2] as string).slice('system/'.length);
      if (argv[1] === 'enable') this.disabled.delete(label);
      else this.disabled.add(label);
      return ok();
    });
    f.onMatch(/^launchctl bootout system\/\S+$/, (argv) => {
      const label = (argv[2] as string).slice('system/'.length);
      this.daemons.delete(label);
      this.listening.delete(label);
      if (!this.loaded.delete(label)) return { code: 113, stdout: '', stderr: 'Boot-out failed: 113: Could not find specified service\n' };
      if (this.drainBootstraps > 0) this.draining.set(label, this.drainBootstraps);
      return ok();
    });
    f.on(['pfctl', '-a', ANCHOR, '-s', 'nat'], () => this.showAnchor((r) => isNat(r), false));
    f.on(['pfctl', '-a', ANCHOR, '-s', 'rules'], () => this.showAnchor((r) => !isNat(r), false));
    f.on(['pfctl', '-a', ANCHOR, '-v', '-s', 'nat'], () => this.showAnchor((r) => isNat(r), true));
    f.on(['pfctl', '-a', ANCHOR, '-v', '-s', 'rules'], () => this.showAnchor((r) => !isNat(r), true));
    f.on(['pfctl', '-v', '-s', 'Interfaces'], () => this.pf(fixture(this.skipLo0 ? 'pfctl-v-s-interfaces-skip-lo0.txt' : 'pfctl-v-s-interfaces.txt')));
    f.on(['pfctl', '-s', 'rules'], () => this.pf(fixture('pfctl-s-rules-main.txt')));
    f.on(['pfctl', '-a', ANCHOR, '-f', '-'], (_argv, opts) => this.loadAnchor(opts?.input ?? ''));
    f.on(['pfctl', '-a', ANCHOR, '-f', '/etc/pf.anchors/dev.hostalias'], () => {
      const text = readFileSync(this.fs.resolve('/etc/pf.anchors/dev.hostalias'), 'utf8');
      return this.loadAnchor(text);
    });
    f.on(['pfctl', '-a', ANCHOR, '-F', 'all'], () => {
      this.anchor = [];
      this.counters.clear();
      return { code: 0, stdout: '', stderr: fixture('pfctl-F-all.stderr.txt') };
    });
    f.on(['pfctl', '-s', 'nat'], () => this.pf(this.mainNat));
    f.on(['pfctl', '-s', 'info'], () => ({
      code: 0,
      stdout: fixture(this.tokens.length > 0 ? 'pfctl-s-info-enabled.txt' : 'pfctl-s-info-disabled.txt'),
      stderr: ALTQ,
    }));
    f.on(['pfctl', '-s', 'References'], () => ({
      code: 0,
      stdout:
        fixture('pfctl-s-references-header.txt') +
        this.tokens.map((t, i) => `${String(400 + i).padEnd(9)}pfctl                       ${t.padEnd(26)}0 days 00:0${i}:12\n`).join(''),
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
    f.on(['docker', 'version', '--format', '{{json .}}'], () =>
      this.engine
        ? ok(this.engine.version)
        : {
            code: 1,
            stdout: '{"Client":{"Version":"27.3.1"},"Server":null}\n',
            stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
          },
    );
    f.on(['docker', 'info', '--format', '{{json .}}'], () =>
      this.engine ? ok(this.engine.info) : { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon\n' },
    );
    f.on(['docker', 'context', 'show'], () => ok(`${this.engine?.context ?? 'default'}\n`));
    f.on(['docker', 'network', 'ls', '-q', '--no-trunc', '--filter', 'driver=bridge'], () =>
      ok(this.engine ? readFileSync(new URL('../docker/network-ls-bridges.txt', FIXTURES), 'utf8') : ''),
    );
    f.onMatch(/^docker network inspect /, () => ok(readFileSync(new URL('../docker/network-inspect-bridges.json', FIXTURES), 'utf8')));
    f.on(['dockerd', '--version'], () => ({ code: 127, stdout: '', stderr: 'dockerd: command not found' }));
    // macOS's nc (netcat-openbsd based): -z connect only, -G connect timeout, -w idle timeout.
    f.onMatch(/^nc (-z )?-G \d+ -w \d+ \S+ \d+$/, (argv, opts) => this.connect(argv, opts?.input ?? ''));
  }

  /** pfctl output as the fake's state has it; as a user every pfctl fails on /dev/pf (fixture pfctl-not-root). */
  private pf(stdout: string): RunResult {
    if (this.asUser) return { code: 1, stdout: '', stderr: fixture('pfctl-not-root.stderr.txt') };
    return { code: 0, stdout, stderr: ALTQ };
  }

  private showAnchor(keep: (rule: string) => boolean, verbose: boolean): RunResult {
    if (this.asUser) return this.pf('');
    if (!this.anchorExists) return { code: this.missingAnchorExit, stdout: '', stderr: `${ALTQ}${fixture('pfctl-anchor-missing.stderr.txt')}` };
    const lines = this.anchor.filter(keep).map((r) => {
      if (!verbose) return `${r}\n`;
      const c = this.counter(r);
      // pfctl_parser.c's verbose format, and macOS's "Inserted" line (decompiled macOS pfctl).
      return `${r}\n  [ Evaluations: ${String(c.evaluations).padEnd(8)}  Packets: ${String(c.packets).padEnd(8)}  Bytes: ${String(c.bytes).padEnd(10)}  States: ${String(c.states).padEnd(6)}]\n  [ Inserted: uid 0 pid 4242 ]\n`;
    });
    return { code: 0, stdout: lines.join(''), stderr: ALTQ };
  }

  private counter(rule: string): { evaluations: number; packets: number; bytes: number; states: number } {
    let c = this.counters.get(rule);
    if (!c) this.counters.set(rule, (c = { evaluations: 0, packets: 0, bytes: 0, states: 0 }));
    return c;
  }

  /**
   * One packet without a state crossing pf inbound on `iface`, counted as XNU's bsd/net/pf.c does:
   * pf_match_translation walks the rdr rules and increments `evaluations` of each rule it reaches
   * before it compares the interface, protocol or addresses, and stops at the first match; a
   * packet on a skipped interface (`set skip on lo0`) meets no rule, and rules of an anchor pf
   * doesn't descend into are never reached. A match creates a state: the connection's later
   * packets match the state, not the rules, and pf_test adds each of them to the rule's
   * `packets` and `bytes` (the state's nat_rule); `states` counts the state until it expires
   * (pf's tcp.closed timeout, longer than any test). Returns the rule that matched.
   */
  private traffic(iface: string, matches: (rule: string) => boolean, connectionPackets: number): string | null {
    if (iface === 'lo0' && this.skipLo0) return null;
    const hooked = this.tokens.length > 0 && /^rdr-anchor "com\.apple\/\*"/m.test(this.mainNat) && this.childAnchorFires;
    if (!hooked) return null;
    for (const rule of this.anchor.filter((r) => r.startsWith('rdr '))) {
      const c = this.counter(rule);
      c.evaluations++;
      if (/ on lo0 /.test(rule) && iface !== 'lo0') continue;
      if (!matches(rule)) continue;
      c.packets += connectionPackets;
      c.bytes += connectionPackets * 64;
      c.states++;
      return rule;
    }
    return null;
  }

  /** `n` packets of the Mac's ordinary traffic on en0 (none is for the alias). */
  enTraffic(n: number): void {
    for (let i = 0; i < n; i++) this.traffic('en0', () => false, 0);
  }

  /**
   * A connection from this Mac: to 127.0.0.1:PORT it reaches the service with source 127.0.0.1; to
   * the alias it reaches a relay daemon listening there (which connects from 127.0.0.1), else a pf
   * rdr on lo0 if one fires (source: the alias, pf keeps it), else nothing (refused).
   */
  private connect(argv: readonly string[], input: string): RunResult {
    this.enTraffic(this.backgroundPackets);
    const host = argv.at(-2) as string;
    const port = Number(argv.at(-1));
    const zeroIo = argv[1] === '-z';
    const refused = { code: 1, stdout: '', stderr: `nc: connectx to ${host} port ${port} (tcp) failed: Connection refused\n` };
    const reach = (to: number, source: string): RunResult => {
      const svc = this.services.get(to);
      if (!svc) return refused;
      return { code: 0, stdout: zeroIo ? `Connection to ${host} port ${port} [tcp/*] succeeded!\n` : svc(source, input), stderr: '' };
    };
    if (host === '127.0.0.1') return reach(port, '127.0.0.1');
    if (!this.aliases.has(host)) return { code: 1, stdout: '', stderr: `nc: connectx to ${host} port ${port} (tcp) failed: Network is unreachable\n` };
    const relay = this.relaysListening()
      .filter(([, sock]) => sock.addr === host && sock.port === port && sock.proto === 'tcp')
      .map(([label]) => this.daemons.get(label) as string[])[0];
    if (relay) {
      // The relay accepts first, then connects to its target: with nothing there the client is
      // connected and gets an empty reply (the relay closes), not a refusal.
      const to = Number((relay[relay.indexOf('--to') + 1] ?? '').split(':').at(-1));
      const through = reach(to, '127.0.0.1');
      return through.code === 0 ? through : { code: 0, stdout: zeroIo ? `Connection to ${host} port ${port} [tcp/*] succeeded!\n` : '', stderr: '' };
    }
    // Another process listening there (on the alias itself, or on *:PORT) takes the connection.
    if (this.sockets.some((x) => x.proto === 'tcp' && x.port === port && (x.addr === host || x.addr === '*')))
      return { code: 0, stdout: zeroIo ? `Connection to ${host} port ${port} [tcp/*] succeeded!\n` : '', stderr: '' };
    // A short TCP connection through lo0: the handshake, the close, and nc's data if any.
    const rule = this.traffic('lo0', (r) => r.includes(` inet proto tcp from any to ${host} port = ${port} `), zeroIo ? 6 : 8);
    if (rule) return reach(Number(/-> 127\.0\.0\.1 port (\d+)/.exec(rule)?.[1]), host);
    return refused;
  }

  /** `launchctl print system/LABEL` of a loaded job: the fixture, with this job's label, plist path and arguments. */
  private printLoaded(label: string): string {
    const exit = this.lastExit.get(label);
    const text = fixture('launchctl-print-loaded.txt')
      .replaceAll('dev.hostalias.alias', label)
      .replace('last exit code = 0', `last exit code = ${exit === 78 ? '78: EX_CONFIG' : (exit ?? 0)}`)
      .replace('state = not running', `state = ${this.listening.has(label) ? 'running' : 'not running'}`);
    const args = this.programs.get(label);
    if (!args) return text;
    return text
      .replace(/\tprogram = \S+/, `\tprogram = ${args[0]}`)
      .replace(/\targuments = \{\n[^}]*\}/, `\targuments = {\n${args.map((a) => `\t\t${a}\n`).join('')}\t}`);
  }

  /** `ifconfig lo0` now: the fixture with the current aliases inserted before nd6, as macOS lists them. */
  lo0(): string {
    const lines = [...this.aliases].map(([ip, mask]) => `\tinet ${ip} netmask ${mask} \n`).join('');
    return fixture('ifconfig-lo0.txt').replace('\tnd6 options', `${lines}\tnd6 options`);
  }

  /**
   * This Mac's kernel and launchd as they are now, over `fs` (a copy of this one's files): what a
   * reboot-free restart of hostalias finds after the process was killed at this moment.
   */
  copyTo(fs: SystemFs): FakeMac {
    const m = new FakeMac(fs);
    for (const [ip, mask] of this.aliases) m.aliases.set(ip, mask);
    for (const label of this.loaded) m.loaded.add(label);
    for (const label of this.disabled) m.disabled.add(label);
    for (const [label, args] of this.programs) m.programs.set(label, [...args]);
    m.createsLogs = this.createsLogs;
    for (const [label, args] of this.daemons) m.daemons.set(label, [...args]);
    for (const [label, sock] of this.listening) m.listening.set(label, { ...sock });
    m.sockets.push(...this.sockets.map((x) => ({ ...x })));
    m.anchor = [...this.anchor];
    m.anchorExists = this.anchorExists;
    m.tokens = [...this.tokens];
    m.nextToken = this.nextToken;
    return m;
  }

  /** What the kernel and launchd hold, for comparing a Mac before and after (the anchor's existence is pf's business). */
  system(): { aliases: string[]; loaded: string[]; daemons: string[]; anchor: string[]; tokens: string[] } {
    return {
      aliases: [...this.aliases].map(([ip, mask]) => `${ip} ${mask}`).sort(),
      loaded: [...this.loaded].sort(),
      daemons: [...this.daemons.keys()].sort(),
      anchor: [...this.anchor],
      tokens: [...this.tokens],
    };
  }

  /** Makes the next run of exactly this command fail with `result`. */
  failOnce(argv: readonly string[], result: RunResult): void {
    this.failures.push({ line: shellQuote(argv), result });
  }

  /** Commands that change something (not probes), as shell lines. */
  get changes(): string[] {
    return this.fake.lines.filter(
      (l) => !/^(ifconfig (lo0|-a)|launchctl print(-disabled)? \S+|pfctl (-a \S+ )?(-v )?-s \S+|sw_vers|nc .*|\S+\/node --version)$/.test(l),
    );
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const line = shellQuote(argv);
    const i = this.failures.findIndex((f) => f.line === line);
    if (i >= 0) {
      this.fake.calls.push([...argv]);
      return (this.failures.splice(i, 1)[0] as { result: RunResult }).result;
    }
    if (this.asUser && argv[0] === 'pfctl') {
      this.fake.calls.push([...argv]);
      return { code: 1, stdout: '', stderr: fixture('pfctl-not-root.stderr.txt') };
    }
    // The installed copy's self-check (runtime-copy.ts): env VAR=LIB NODE -e SCRIPT ALLOWED… — its loaded images must all be in ALLOWED.
    const check = /^\/usr\/bin\/env (\w+)=(\S+) (\/usr\/local\/lib\/hostalias\/[^/ ]+\/node) -e /.exec(line);
    if (check) {
      this.fake.calls.push([...argv]);
      const images = await this.loadImages(check[3] as string, { ...opts?.env, [check[1] as string]: check[2] as string });
      if ('error' in images) return { code: 134, stdout: '', stderr: images.error };
      const allowed = argv.slice(5);
      const outside = images.loaded.filter((p) => !allowed.some((a) => p.startsWith(a)));
      return outside.length > 0 ? { code: 1, stdout: '', stderr: `the copy loads ${outside.join(', ')} from outside it\n` } : ok();
    }
    const boot = /^launchctl bootstrap system (\S+)$/.exec(line);
    if (boot) {
      this.fake.calls.push([...argv]);
      return this.bootstrap(boot[1] as string);
    }
    if (/\/usr\/local\/lib\/hostalias\/[^/ ]+\/node --version$/.test(line)) {
      // The check of the installed copy runs the copied node itself: a real file on this machine (the fs names it under the Mac's folder).
      this.fake.calls.push([...argv]);
      const r = spawnSync(argv[0] as string, ['--version'], { encoding: 'utf8' });
      return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
    }
    return this.fake.run(argv, opts);
  }

  private loadAnchor(text: string): RunResult {
    this.anchor = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    this.anchorExists = true;
    this.counters.clear();
    return { code: 0, stdout: '', stderr: ALTQ };
  }

  /** The fake root's path for `path`, with RUNTIME_DIR/current resolved (the fs follows no link inside hostalias's folders). */
  private async throughCurrent(path: string): Promise<string> {
    const current = '/usr/local/lib/hostalias/current';
    if (!path.startsWith(`${current}/`)) return path;
    const id = await this.fs.readLink(current);
    return id === null ? path : `/usr/local/lib/hostalias/${id}/${path.slice(current.length + 1)}`;
  }

  /**
   * dyld starting `node` (a copy in the fake root) with `env`: each image of nodeImages outside
   * macOS is looked up by its leaf name in each DYLD_LIBRARY_PATH folder first, then at the path
   * the binary names (dyld(1); Apple's Dynamic Library Usage Guidelines); the variable is ignored
   * when dyldIgnoresEnv. One found nowhere aborts the start with dyld's "Library not loaded"
   * (the report format quoted in ohmyzsh/ohmyzsh#12170 and jannis-baum/Vivify#188).
   */
  async loadImages(node: string, env: Readonly<Record<string, string | undefined>>): Promise<{ loaded: string[] } | { error: string }> {
    const dirs = this.dyldIgnoresEnv ? [] : (env['DYLD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d !== '');
    const [, ...libs] = this.nodeImages;
    const loaded = [node];
    for (const lib of libs) {
      if (lib.startsWith('/usr/lib/') || lib.startsWith('/System/')) {
        loaded.push(lib);
        continue;
      }
      const tried: string[] = [];
      let found: string | null = null;
      for (const dir of dirs) {
        const candidate = `${dir}/${basename(lib)}`;
        tried.push(candidate);
        if (await this.fs.exists(await this.throughCurrent(candidate))) {
          found = candidate;
          break;
        }
      }
      tried.push(lib);
      if (found === null && existsSync(lib)) found = lib;
      if (found === null)
        return {
          error: `dyld[4242]: Library not loaded: ${lib}\n  Referenced from: <6A1F0244-849B-388D-A92F-8A4D95C4539A> ${node}\n  Reason: tried: ${tried.map((p) => `'${p}' (no such file)`).join(', ')}\n`,
        };
      loaded.push(found);
    }
    return { loaded };
  }

  /** launchd starting every KeepAlive job again (a reboot, or KeepAlive after the relay exited). */
  async restartDaemons(): Promise<void> {
    for (const label of this.daemons.keys()) {
      const plist = await this.fs.read(`/Library/LaunchDaemons/${label}.plist`);
      if (plist !== null) await this.startDaemon(label, parsePlist(plist) as LaunchdPlist);
    }
  }

  /** Relays launchd still runs (a test may drop a daemon by hand) whose bind succeeded. */
  private relaysListening(): Array<[string, Socket]> {
    return [...this.listening].filter(([label]) => this.daemons.has(label));
  }

  /** Whether `uid` may open `path` for appending (creating it when missing), by the owners and modes above. */
  private async mayOpen(uid: number, path: string): Promise<boolean> {
    if (uid === 0) return true;
    const writable = (o: { uid: number; mode: number }) => (o.uid === uid && (o.mode & 0o200) !== 0) || (o.mode & 0o002) !== 0;
    if (await this.fs.exists(path)) return writable(this.owners.get(path) ?? { uid: 0, mode: 0o644 });
    return writable(this.owners.get(dirname(path)) ?? { uid: 0, mode: 0o755 });
  }

  /**
   * launchd starting a KeepAlive job: it opens StandardOutPath/StandardErrorPath as the job's user
   * (UserName, else root) before it runs the program, and does not run a job that can't open them:
   * `last exit code = 78: EX_CONFIG` (launchd-842 core.c opens them after job_postfork_become_user;
   * on current macOS an unopenable log is EX_CONFIG: Asymptote-Labs/agent-beacon#510,
   * LrGenius/LrGeniusAI#298). A relay then binds its address as XNU allows (xnuBindError); when it
   * can't, it writes the CLI's error to its log and exits, and launchd restarts it later (KeepAlive).
   */
  async startDaemon(label: string, job: LaunchdPlist): Promise<void> {
    this.listening.delete(label); // its earlier instance, if any, is gone
    const uid = MAC_UIDS[job.UserName ?? 'root'] ?? 501;
    for (const log of new Set([job.StandardOutPath, job.StandardErrorPath])) {
      if (log && !(await this.mayOpen(uid, log))) {
        this.lastExit.set(label, 78);
        return;
      }
    }
    const args = job.ProgramArguments ?? [];
    const started = await this.loadImages(args[0] ?? '', job.EnvironmentVariables ?? {});
    if ('error' in started) {
      for (const log of new Set([job.StandardOutPath, job.StandardErrorPath])) {
        if (log) await this.fs.write(log, `${(await this.fs.read(log)) ?? ''}${started.error}`, 0o644);
      }
      this.lastExit.set(label, 134);
      return;
    }
    const at = args.indexOf('forward');
    if (at < 0) return;
    const [portText, proto] = (args[at + 1] ?? '').split('/') as [string, 'tcp' | 'udp'];
    const addr = args[args.indexOf('--listen') + 1] as string;
    const port = Number(portText);
    const holders = [...this.sockets, ...this.relaysListening().map(([, sock]) => sock)];
    const code = this.aliases.has(addr) ? xnuBindError(uid, addr, port, proto, holders) : 'EADDRNOTAVAIL';
    if (code === null) {
      this.listening.set(label, { addr, port, proto, uid });
      return;
    }
    const err = listenError(Object.assign(new Error(code), { code }), { host: addr, port }, proto, undefined, 'darwin');
    // What cli/main.ts prints for it, into the log launchd opened.
    for (const log of new Set([job.StandardOutPath, job.StandardErrorPath])) {
      if (log) await this.fs.write(log, `${(await this.fs.read(log)) ?? ''}hostalias: ${err.message}\n  fix: ${err.fix}\n`, 0o644);
    }
    this.lastExit.set(label, EXIT_CODES[err.code]);
  }

  /** launchd's checks that matter here: the plist parses, its Label matches; RunAtLoad runs it now. */
  private async bootstrap(path: string): Promise<RunResult> {
    const text = await this.fs.read(path);
    if (text === null) return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    const job = parsePlist(text) as LaunchdPlist;
    if (job.Label !== basename(path, '.plist') || !Array.isArray(job.ProgramArguments))
      return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    if (this.loaded.has(job.Label)) return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-failed.stderr.txt') };
    if (this.disabled.has(job.Label))
      return {
        code: 119,
        stdout: '',
        stderr: fixture('launchctl-bootstrap-disabled.stderr.txt').replace('/Library/LaunchDaemons/dev.hostalias.alias.plist', path),
      };
    const drain = this.draining.get(job.Label) ?? 0;
    if (drain > 0) {
      this.draining.set(job.Label, drain - 1);
      return { code: 5, stdout: '', stderr: fixture('launchctl-bootstrap-after-bootout.stderr.txt') };
    }
    this.loaded.add(job.Label);
    this.programs.set(job.Label, job.ProgramArguments);
    if (this.createsLogs) {
      for (const log of new Set([job.StandardOutPath, job.StandardErrorPath])) if (log && !(await this.fs.exists(log))) await this.fs.write(log, '');
    }
    if (job.KeepAlive) {
      // A daemon (the forward relay): launchd starts it and keeps it running; it is not a command to run to completion.
      this.daemons.set(job.Label, job.ProgramArguments);
      await this.startDaemon(job.Label, job);
    } else if (job.RunAtLoad) {
      const [program, ...args] = job.ProgramArguments;
      await this.run([basename(program as string), ...args]);
    }
    return ok();
  }
}
