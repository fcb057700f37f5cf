import { isManaged, managedHeader } from '../../model/managed.js';
import type { Context } from '../../model/context.js';
import { HostaliasError } from '../../model/errors.js';
import { commandError } from '../../exec/runner.js';
import type { RunResult } from '../../model/runner.js';
import type { Retry, Step } from '../../model/steps.js';

export const LAUNCH_DAEMONS_DIR = '/Library/LaunchDaemons';
export const ALIAS_JOB_LABEL = 'dev.hostalias.alias';
export const PF_JOB_LABEL = 'dev.hostalias.pf';

/** The marker that says hostalias wrote a plist (so it may rewrite and remove it). */

/** A LaunchDaemon that runs one command at boot (RunAtLoad) and exits. */
export interface LaunchdJob {
  label: string;
  programArguments: string[];
  /** launchd appends the job's stderr here (the pf job's `Token : N` line). */
  standardErrorPath?: string;
  /** launchd appends the job's stdout here. */
  standardOutPath?: string;
  /** A daemon (the forward relay): launchd restarts it whenever it exits. */
  keepAlive?: boolean;
  /** Run as this user instead of root. */
  userName?: string;
  /** EnvironmentVariables: set for the job's process (launchd.plist(5)). */
  environment?: Record<string, string>;
}

export function plistPathFor(label: string): string {
  return `${LAUNCH_DAEMONS_DIR}/${label}.plist`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The job as an XML property list, the format launchd and `plutil -lint` accept. Pure.
 * Built by hand (few, fixed keys; every value escaped) so the runtime needs no XML library; the
 * unit tests parse it with the `plist` package. The comment never contains "--", which XML forbids.
 */
export function renderPlist(job: LaunchdJob): string {
  const args = job.programArguments.map((a) => `\t\t<string>${xmlEscape(a)}</string>`).join('\n');
  const stderr = job.standardErrorPath ? `\t<key>StandardErrorPath</key>\n\t<string>${xmlEscape(job.standardErrorPath)}</string>\n` : '';
  const stdout = job.standardOutPath ? `\t<key>StandardOutPath</key>\n\t<string>${xmlEscape(job.standardOutPath)}</string>\n` : '';
  const keepAlive = job.keepAlive ? '\t<key>KeepAlive</key>\n\t<true/>\n' : '';
  const user = job.userName ? `\t<key>UserName</key>\n\t<string>${xmlEscape(job.userName)}</string>\n` : '';
  const vars = Object.entries(job.environment ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const env =
    vars.length > 0
      ? `\t<key>EnvironmentVariables</key>\n\t<dict>\n${vars.map(([k, v]) => `\t\t<key>${xmlEscape(k)}</key>\n\t\t<string>${xmlEscape(v)}</string>\n`).join('')}\t</dict>\n`
      : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
${managedHeader('<!--', 'sudo hostalias down')}
<plist version="1.0">
<dict>
\t<key>Label</key>
\t<string>${xmlEscape(job.label)}</string>
\t<key>ProgramArguments</key>
\t<array>
${args}
\t</array>
\t<key>RunAtLoad</key>
\t<true/>
${keepAlive}${user}${env}${stdout}${stderr}</dict>
</plist>
`;
}

/** The boot-time job that re-adds the alias; the same command `up` runs. */
export function aliasJob(ip: string): LaunchdJob {
  return { label: ALIAS_JOB_LABEL, programArguments: ['/sbin/ifconfig', 'lo0', 'alias', ip, 'netmask', '255.255.255.255'] };
}

/**
 * Reads `launchctl print system/LABEL`: exit 0 means loaded; exit 113 with "Could not find service"
 * means not loaded. Anything else is an error (a permission problem must not read as "absent").
 */
export function parseLaunchctlPrint(label: string, res: RunResult): boolean {
  if (res.code === 0) return true;
  if (res.code === 113 || /Could not find service/.test(res.stderr)) return false;
  throw commandError(['launchctl', 'print', `system/${label}`], `asking launchd about ${label}`, res);
}

/**
 * The `state = …` line of `launchctl print system/LABEL` (`running`, `not running`, `spawn
 * scheduled`…), or null when launchd has no such job. A KeepAlive job that exits at once is
 * `running` only for that moment. Read-only, no root.
 */
export async function jobState(ctx: Context, label: string): Promise<string | null> {
  const res = await ctx.runner.run(['launchctl', 'print', `system/${label}`]);
  if (!parseLaunchctlPrint(label, res)) return null;
  return /^\tstate = (.+)$/m.exec(res.stdout)?.[1]?.trim() ?? null;
}

export interface JobObserved {
  /** The plist as on disk, null when absent. */
  file: string | null;
  /** launchd has the job loaded; null under --root, where launchd says nothing about the folder. */
  loaded: boolean | null;
  /**
   * launchd has the label disabled (`launchctl print-disabled system`): it is not loaded at boot
   * and `launchctl bootstrap` refuses it. Absent or false: not disabled, or unknown.
   */
  disabled?: boolean;
}

/**
 * `launchctl print-disabled system`: label → disabled. macOS 13+ prints `"LABEL" => disabled` or
 * `=> enabled`; earlier versions `=> true` (disabled) or `=> false` (usnistgov/macos_security#167
 * on the Ventura change; the older form in ninehills/blog#85). Only the `disabled services` block
 * is read (`login item associations` follows it). Pure.
 */
export function parsePrintDisabled(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  const block = /disabled services = \{([^}]*)\}/.exec(text)?.[1] ?? '';
  for (const m of block.matchAll(/^\s*"([^"]+)" => (disabled|enabled|true|false)\s*$/gm)) out.set(m[1] as string, m[2] === 'disabled' || m[2] === 'true');
  return out;
}

/** What the job planner needs. Read-only, no root (`launchctl print` and `print-disabled` work unprivileged). */
export async function observeJob(ctx: Context, label: string): Promise<JobObserved> {
  const file = await ctx.fs.read(plistPathFor(label));
  if (ctx.fs.isRooted) return { file, loaded: null };
  const loaded = parseLaunchctlPrint(label, await ctx.runner.run(['launchctl', 'print', `system/${label}`]));
  // An old launchctl without print-disabled (before OS X 10.11) reads as "not disabled".
  const disabled = await ctx.runner.run(['launchctl', 'print-disabled', 'system']);
  return { file, loaded, ...(disabled.code === 0 && parsePrintDisabled(disabled.stdout).get(label) ? { disabled: true } : {}) };
}

/**
 * `launchctl enable system/LABEL`, before a disabled job is bootstrapped: launchd keeps a
 * disable across bootout, plist removal and reboots, and `bootstrap` then fails with `119:
 * Service is disabled` (DeterminateSystems/nix-installer#530, fixed in #555 by enabling first).
 * On macOS 13+ switching a background item off under System Settings → General → Login Items
 * disables it this way too.
 */
function enableStep(label: string): Step {
  return {
    kind: 'run',
    argv: ['launchctl', 'enable', `system/${label}`],
    undo: ['launchctl', 'disable', `system/${label}`],
    service: true,
    why: `enable ${label}: launchd has it disabled (launchctl print-disabled system; on macOS 13+ a background item switched off under Login Items), so it would not run at boot`,
  };
}

function bootstrap(path: string): string[] {
  return ['launchctl', 'bootstrap', 'system', path];
}

/**
 * launchd unloads a booted-out job asynchronously: a `bootstrap` right after `bootout` of the same
 * label fails with `Bootstrap failed: 5: Input/output error` for a few seconds (reported on recent
 * macOS by DeterminateSystems/nix-installer#1157, openclaw/openclaw#136453, chenhg5/cc-connect#35:
 * "a plain retry a few seconds later succeeds"). Such a bootstrap — the reload of a changed job, or
 * the rollback of a bootout — is retried for a bounded time; a fresh one fails at once.
 */
export const BOOTSTRAP_AFTER_BOOTOUT: Retry = {
  whileOutput: 'Bootstrap failed: (5|37):',
  forMs: 20_000,
  everyMs: 250,
  because: 'launchd finishes unloading the old job',
};

function bootout(label: string): string[] {
  return ['launchctl', 'bootout', `system/${label}`];
}

/**
 * Converges one LaunchDaemon: its plist in /Library/LaunchDaemons and, when `load`, its place in
 * launchd's system domain. Pure; idempotent. `planJobRemoval` is the inverse.
 * The plist is written mode 0644; files root creates there are root:wheel (BSD gives new files the
 * directory's group), which launchd requires: it refuses plists writable by others.
 * Under --root `loaded` is unknown and launchctl steps follow the file (and are skipped anyway).
 * `load` false only places the plist: launchd loads it at the next boot.
 */
export function planJob(job: LaunchdJob, obs: JobObserved, opts: { load: boolean }): Step[] {
  const path = plistPathFor(job.label);
  const steps: Step[] = [];
  const content = renderPlist(job);
  const loaded = obs.loaded ?? obs.file === content;
  if (obs.file !== null && !isManaged(obs.file)) {
    throw new HostaliasError(
      'conflict',
      `${path} exists and was not written by hostalias`,
      `move it away (sudo launchctl bootout system/${job.label}; sudo mv ${path} /tmp/) and run hostalias up again`,
    );
  }
  if (obs.disabled) steps.push(enableStep(job.label));
  if (obs.file !== content) {
    const reload = opts.load && obs.loaded === true;
    if (reload) {
      steps.push({
        kind: 'run',
        argv: bootout(job.label),
        undo: bootstrap(path),
        undoRetry: BOOTSTRAP_AFTER_BOOTOUT,
        service: true,
        why: `unload ${job.label} to load its new definition`,
      });
    }
    steps.push({ kind: 'write', path: path, content, mode: 0o644, before: obs.file, why: `persist across reboots: launchd runs ${job.label} at boot` });
    if (opts.load) {
      steps.push({
        kind: 'run',
        argv: bootstrap(path),
        undo: bootout(job.label),
        ...(reload ? { retry: BOOTSTRAP_AFTER_BOOTOUT } : {}),
        service: true,
        why: `load ${job.label} into launchd (it runs once now)`,
      });
    }
  } else if (opts.load && !loaded) {
    steps.push({ kind: 'run', argv: bootstrap(path), undo: bootout(job.label), service: true, why: `load ${job.label} into launchd` });
  }
  return steps;
}

/** Unloads and deletes a job hostalias installed; already gone is success. Pure. */
export function planJobRemoval(label: string, obs: JobObserved): Step[] {
  const path = plistPathFor(label);
  const steps: Step[] = [];
  if (obs.file !== null && !isManaged(obs.file)) return steps; // not ours: leave it
  if (obs.loaded ?? obs.file !== null) {
    const undo = obs.file !== null ? { undo: bootstrap(path), undoRetry: BOOTSTRAP_AFTER_BOOTOUT } : {};
    steps.push({ kind: 'run', argv: bootout(label), ...undo, service: true, why: `unload ${label} from launchd` });
  }
  if (obs.file !== null) steps.push({ kind: 'remove', path, before: obs.file, why: `remove the LaunchDaemon ${path}` });
  return steps;
}
