import type { State } from './state.js';
import type { Runner } from '../exec/runner.js';
import type { SystemFs } from '../fs/system-fs.js';
import type { ExposeSpec, ExposeVia, PersistChoice, PersistKind } from './config.js';
import type { Context } from './context.js';
import type { PortListener } from './expose.js';
import type { Check, DoctorInput } from './finding.js';
import type { Part } from './part.js';

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

/** Whether an expose just applied works; `fallback` is the spec to converge to instead, when there is one. */
export interface ExposeVerdict {
  ok: boolean;
  detail: string;
  fallback?: ExposeSpec;
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
   * can't list them; `expose` decides kernel rules or a relay from it (issue 11). Read-only.
   */
  listeners(ctx: Context): Promise<PortListener[] | null>;
  /** How `expose` (auto) carries a port when `listeners` is null; absent: kernel rules. */
  unknownListenersVia?: { via: ExposeVia; reason: string };
  /** The service a `forward --install` (or an expose's relay) becomes, and the command that shows its logs. */
  forwardService(spec: { port: number; proto: 'tcp' | 'udp' }): { name: string; logs: string };
  /**
   * What hostalias may have installed, found by its own markers (managed headers, the alias
   * label, marked blocks) for `down` when state.json is missing or unreadable: one state per
   * alias found, and what was found. Read-only. Absent: the platform can't tell.
   */
  discover?(ctx: Context): Promise<{ states: State[]; found: string[] }>;
  /** Checks an expose right after it was applied (the platform's own path may not work here). Optional. */
  verifyExpose?(ctx: Context, ip: string, spec: ExposeSpec): Promise<ExposeVerdict>;
  /** Answers this platform's read-only probes on another OS, for `--platform X --dry-run`. */
  previewRunner(fs: SystemFs, host: string): Runner;
}
