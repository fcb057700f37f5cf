/**
 * The types of one operation's world, kept in one module because they refer to each other: the
 * Context an operation runs in, the platform Backend it carries, the Parts that plan changes, and
 * doctor's Checks and their Findings. Each type lives here only; finding.ts has the Finding makers.
 */
import type { Runner } from './runner.js';
import type { Files } from './files.js';
import type { Desired, ExposeSpec, ExposeVia, PersistChoice, PersistKind } from './config.js';
import type { EngineProbe } from './engine.js';
import type { LoopbackSets, PortListener, ServiceManager } from './expose.js';
import type { Plan } from './steps.js';
import type { InstalledPersistence, State } from './state.js';
import { usageError } from './errors.js';
import type { FixCommand, Invocation } from './invocation.js';

/**
 * The folder a context's files live under: `root` (an image) or `filesRoot` (this namespace, files
 * under a folder), which exclude each other, else `/`. The one check of that rule (the CLI's
 * flags and defaultContext's options). Pure; throws a usage error.
 */
export function filesRootOf(opts: { root?: string | undefined; filesRoot?: string | undefined }): string {
  if (opts.root !== undefined && opts.filesRoot !== undefined) {
    throw usageError('--root and --files-root exclude each other', '--root DIR writes an image; --files-root DIR changes this namespace with files under DIR');
  }
  return opts.root ?? opts.filesRoot ?? '/';
}

/**
 * Everything with side effects that an operation may use, injected so that tests can substitute
 * a fake runner or a rooted fs. `backend` is the platform's implementation (engine/context.ts
 * picks it; `--platform darwin` previews macOS anywhere).
 */
export interface Context {
  runner: Runner;
  fs: Files;
  backend: Backend;
  /**
   * The running system may be read and changed: the kernel's addresses, routes, packet filter and
   * sysctls, and the container engine. False for `--root DIR` (an image: only files under DIR are
   * written). With `fs` rooted and `live` true (`--files-root DIR`, for tests and containers) the
   * network stack of this namespace changes but files and state stay under DIR; service managers,
   * which act on the real /etc, are called only when `fs` is not rooted.
   */
  live: boolean;
  /** Effective uid is 0; changing commands refuse to run otherwise. */
  isRoot: boolean;
  env: Record<string, string | undefined>;
  /**
   * The plan is for another OS than this machine's (`--platform darwin` on Linux): it can be
   * shown with --dry-run but never applied. Tests that simulate that OS leave it unset.
   */
  previewOnly?: boolean;
  /** Replaces the platform's parts (tests of one part, embedders that want only the alias). */
  parts?: readonly Part[];
  /**
   * Read-only questions about the live system answered in-process instead of by a command
   * (each process started adds to the CLI's start time). defaultContext sets it with the real
   * runner; contexts with a fake runner leave it out and are answered through `runner`.
   */
  native?: NativeProbes;
  /**
   * How the reader of this operation's output runs hostalias: every fix line that names a
   * hostalias command starts with it (model/invocation.ts). Absent: DEFAULT_INVOCATION.
   */
  invocation?: Invocation;
}

/** An address of this network namespace, as getifaddrs reports it. */
export interface InterfaceAddress {
  /** The interface, or an IPv4 address's label (`lo:hostalias`). */
  name: string;
  family: 'inet' | 'inet6';
  address: string;
  prefixlen: number;
}

/** What the container engine answered over its API socket. */
export type EngineReply =
  | { kind: 'answer'; status: number; body: string }
  /** Nothing accepted the connection, or no answer in time: the engine is not reachable. */
  | { kind: 'down'; error: string }
  /** Only the docker CLI can tell (ssh://, TLS, an answer that isn't HTTP): ask it. */
  | { kind: 'cli'; why: string };

export interface NativeProbes {
  /**
   * Addresses of the interfaces that are up (getifaddrs, as libuv filters it: an interface that
   * is down is left out with all its addresses). Read-only.
   */
  addresses(): InterfaceAddress[];
  /**
   * The engine the docker CLI would talk to (DOCKER_HOST, its current context): the context's
   * name, `get` to ask it, and `files`: what finding it read plus its socket (null for a TCP
   * engine, which no file stands for); null when only the CLI can reach it. Read-only.
   */
  engine(): Promise<{ context: string; files: string[] | null; get(path: string, timeoutMs: number): Promise<EngineReply> } | null>;
  /**
   * The shared libraries this process has loaded, as absolute paths, its own executable among them
   * (Node's diagnostic report `sharedObjects`: dyld's image list on macOS, dl_iterate_phdr on
   * Linux — node src/debug_utils.cc GetLoadedLibraries). Read-only.
   */
  loadedLibraries?(): string[];
}

/** What every part plans from: the wanted configuration (null for `down`) and what was installed. */
export interface PartInput {
  desired: Desired | null;
  /** The persistence backend chosen for `desired` (null when down or none). */
  persistence: InstalledPersistence | null;
  state: State | null;
}

/**
 * One independently reversible piece of the setup (alias, persistence, hosts file, daemon.json,
 * firewall, …). `plan` observes what it needs (read-only) and returns the steps that converge the
 * system to `input.desired`; with the system converged it returns no steps.
 */
export interface Part {
  id: string;
  plan(ctx: Context, input: PartInput): Promise<Plan>;
}

export type PlatformName = 'linux' | 'darwin';

/** How the alias is persisted, and why (`--verbose` and doctor show the reason). */
export interface PersistDecision {
  kind: PersistKind;
  reason: string;
}

/** What doctor's shared pieces (the probe) ask of the platform. */
export interface DoctorPlatform {
  /** The platform's checks, in report order. Read-only. */
  checks: readonly Check[];
  /** TCP ports of host services that containers should reach through the alias (probe defaults). */
  reachablePorts(input: DoctorInput): Promise<number[]>;
  /** Why a probe connection to `port` failed, when the platform can tell (listeners, firewall). */
  explainFailure(input: DoctorInput, port: number, result: 'refused' | 'timeout' | 'error'): Promise<{ message: string; fix: string } | null>;
  /** The command that starts the container engine `docker` would talk to (DOCKER_HOST in ctx.env). */
  startEngineFix(input: DoctorInput): Promise<string>;
}

/**
 * Whether an expose just applied works. Not ok: `fallback` is the spec to converge to instead,
 * when there is one; without one the expose can't work here and is undone (`fix` says what to do).
 */
export interface ExposeVerdict {
  ok: boolean;
  detail: string;
  fallback?: ExposeSpec;
  fix?: string;
}

/**
 * What a copy of node needs beside it to start on its own, on this platform (macOS: a Homebrew
 * node's dylibs), and how the copy is checked to load nothing else.
 */
export interface RuntimeLibraries {
  /** Each library to copy into the copy's lib/ folder: its file, and the names the loader looks it up by. */
  libs: Array<{ from: string; names: string[] }>;
  /** The variable naming the copy's lib/ folder to the loader, for the check and for the units that run it. */
  libraryPathVar: string;
  /** Folders of the system's own libraries, which the copy may load. */
  system: string[];
}

/**
 * A platform's implementation of everything platform-specific. The engine, the CLI and the shared
 * code (docker/, doctor/) reach the platform only through this interface, never by importing it.
 */
export interface Backend {
  platform: PlatformName;
  /** The loopback interface's name (`lo`, `lo0`). */
  loopback: string;
  /** Parts in the order `up` applies them; `down` plans them in reverse. */
  parts: readonly Part[];
  /** Which persistence backend `choice` means here, and why. Read-only. */
  decidePersistence(ctx: Context, choice: PersistChoice): Promise<PersistDecision>;
  /** The alias is on the loopback right now. Read-only, no root needed. */
  aliasPresent(ctx: Context, ip: string): Promise<boolean>;
  doctor: DoctorPlatform;
  /**
   * Every TCP/UDP listening socket of this host (its network namespace), or null when the platform
   * can't list them; `expose` decides kernel rules or a relay from it. Read-only.
   */
  listeners(ctx: Context): Promise<PortListener[] | null>;
  /**
   * Who holds `port` on `address` or on a wildcard address (`dnsmasq[812]`), for an error that
   * names them; absent or empty when the platform can't tell. Read-only.
   */
  portHolders?(ctx: Context, proto: 'tcp' | 'udp', address: string, port: number): Promise<string[]>;
  /** How `expose` (auto) carries a port when `listeners` is null; absent: kernel rules. */
  unknownListenersVia?: { via: ExposeVia; reason: string };
  /** The service `up --dns`'s resolver runs as, and the command that shows its logs. */
  dnsService: { name: string; logs: string };
  /**
   * Makes the firewall's run-time sets of `expose --all` hold `sets` (the loopback relay's watcher
   * calls it whenever what listens changes). Needs root. Absent where `expose --all` has no loopback relay.
   */
  applyLoopbackSets?(ctx: Context, ip: string, sets: LoopbackSets): Promise<void>;
  /** The one service process that runs `expose --all`'s loopback relay (`hostalias serve`), and the command that shows its logs. */
  serveService?: { name: string; logs: string };
  /** The service a `forward --install` (or an expose's relay) becomes, and the command that shows its logs. */
  forwardService(spec: { port: number; proto: 'tcp' | 'udp' }): { name: string; logs: string };
  /**
   * Whether a service manager runs here to start the relays (`forward --install`, an expose's
   * relay) and keep them running; where none does (a container, WSL without systemd) their
   * services would never start. An image (--root) starts them at boot. Read-only.
   */
  serviceManager(ctx: Context): Promise<ServiceManager>;
  /**
   * The `hostalias forward` processes listening on `ip` in this network namespace (relays started
   * by hand in a terminal, which `down` does not stop): `down` names them. Read-only; absent where
   * the platform can't tell.
   */
  relaysOn?(ip: string): Promise<Array<{ pid: number; port: number; proto: 'tcp' | 'udp'; argv: string[] }>>;
  /**
   * What hostalias may have installed, found by its own markers (managed headers, the alias
   * label, marked blocks) for `down` when state.json is missing or unreadable: one state per
   * alias found, and what was found. Read-only.
   */
  discover(ctx: Context): Promise<{ states: State[]; found: string[] }>;
  /** Checks an expose right after it was applied (the platform's own path may not work here). Optional. */
  verifyExpose?(ctx: Context, ip: string, spec: ExposeSpec): Promise<ExposeVerdict>;
  /** What a copy of `node` (this process's) needs beside it to run on its own; absent: nothing (node starts anywhere it is copied). Read-only. */
  runtimeLibraries?(ctx: Context, node: string): Promise<RuntimeLibraries>;
  /** Answers this platform's read-only probes on another OS, for `--platform X --dry-run`. */
  previewRunner(fs: Files, host: string, recorded: () => Promise<State | null>): Runner;
}

export type FindingStatus = 'ok' | 'warn' | 'fail';

/**
 * One observation of `hostalias doctor`. `id` is the check that made it (stable: `alias`,
 * `persistence`, `route-conflict`, `docker`, `daemon-gateway`, `firewall`, `listeners`, `dns`, `probe`);
 * `fix` is the exact command that resolves anything not ok.
 */
export interface Finding {
  id: string;
  status: FindingStatus;
  message: string;
  fix?: string;
}

/** What every check reads: the recorded setup and shared, memoised observations. */
export interface DoctorInput {
  ctx: Context;
  state: State | null;
  /** The recorded configuration, or the defaults when hostalias is not set up. */
  desired: Desired;
  /** The container engine as `docker` sees it, asked at most once per doctor run. */
  engine(): Promise<EngineProbe>;
  /** A fix line that runs `hostalias ARGS` for the reader, against the target doctor looked at (fixCommand). */
  hostalias: FixCommand;
}

/** A read-only diagnosis. Never changes the system; may throw (the runner turns that into a finding). */
export interface Check {
  id: string;
  run(input: DoctorInput): Promise<Finding[]>;
}
