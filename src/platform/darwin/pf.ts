import type { ExposeSpec } from '../../model/config.js';
import { STATE_DIR } from '../../model/state.js';
import { CAPTURED, emptyPlan, type Plan, type Step } from '../../model/steps.js';
import { PF_JOB_LABEL, planJob, planJobRemoval, type JobObserved, type LaunchdJob } from './launchd.js';

/**
 * The anchor holding hostalias's redirects. macOS's stock /etc/pf.conf declares
 * `rdr-anchor "com.apple/*"` (and nat-, scrub-, dummynet- and filter anchors of the same name),
 * and pf evaluates every child anchor under such a wildcard. A child we create under com.apple/
 * is therefore evaluated without editing /etc/pf.conf — which macOS updates overwrite — and
 * without reloading the main ruleset other components (Internet Sharing, AirDrop, VPNs) rely on.
 * The parent belongs to Apple; only the child "hostalias" is ours, and only it is ever loaded
 * (`pfctl -a com.apple/hostalias -f -`) or flushed (`-F all`).
 */
export const PF_ANCHOR = 'com.apple/hostalias';
/** The anchor's rules on disk, loaded by the boot-time job; /etc/pf.anchors is macOS's own folder for anchor files. */
export const PF_ANCHOR_FILE = '/etc/pf.anchors/dev.hostalias';
/** The pf enable reference `up` took (`pfctl -E` prints it); `down` releases it with `pfctl -X`. */
export const PF_TOKEN_PATH = `${STATE_DIR}/pf-token`;
/** Where launchd writes the boot-time job's stderr, which holds the boot reference's token. */
export const PF_BOOT_LOG = `${STATE_DIR}/pf-boot.log`;

/** pfctl's token line, from `pfctl -E` (on stderr: "pf enabled\nToken : 1234…"). */
export const TOKEN_PATTERN = 'Token : (\\d+)';

/**
 * One redirect, written as `pfctl -s nat` prints it back so observed and desired compare equal.
 * Container traffic from Docker Desktop reaches macOS through Desktop's host-side process
 * (vpnkit / com.docker.backend), which opens an ordinary local socket to ADDR:PORT; a packet to a
 * local address goes through lo0, so an `rdr on lo0` catches it as well as connections made on
 * the Mac itself. `pass` lets it skip filter rules; the source address is kept.
 */
export function rdrRule(ip: string, e: ExposeSpec): string {
  return `rdr pass on lo0 inet proto ${e.proto} from any to ${ip} port = ${e.port} -> 127.0.0.1 port ${e.to}`;
}

export function anchorRules(ip: string, exposes: readonly ExposeSpec[]): string[] {
  return [...exposes].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port).map((e) => rdrRule(ip, e));
}

export function anchorFileContent(ip: string, exposes: readonly ExposeSpec[]): string {
  return `# Managed by hostalias: \`sudo hostalias down\` removes this. Edits are overwritten by \`hostalias up\`.
# Loaded into the pf anchor ${PF_ANCHOR} (evaluated through rdr-anchor "com.apple/*" in /etc/pf.conf).
${anchorRules(ip, exposes).join('\n')}
`;
}

/** Rule lines of pfctl output or an anchor file: no comments, blanks, or pfctl's ALTQ warnings. */
export function parseRules(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !/^(No ALTQ support in kernel|ALTQ related functions disabled)$/.test(l));
}

/** Every token in pfctl output or the boot log ("Token : 1234…"). */
export function parseTokens(text: string): string[] {
  return [...text.matchAll(new RegExp(TOKEN_PATTERN, 'g'))].map((m) => m[1] as string);
}

/** `pfctl -s info`'s first line: "Status: Enabled for 0 days 00:10:12   Debug: Urgent". */
export function parsePfEnabled(text: string): boolean {
  return /^Status:\s*Enabled\b/m.test(text);
}

/** The main ruleset (`pfctl -s nat`) still hooks in com.apple's child anchors for redirects. */
export function hasAppleRdrAnchor(mainNat: string): boolean {
  return /^rdr-anchor "com\.apple\/\*"/m.test(mainNat);
}

/**
 * Tokens among `candidates` that pf still holds (`pfctl -s References` lists live references,
 * one per line with its token). A token from before a reboot is gone and must not be released.
 */
export function liveTokens(candidates: readonly string[], references: string): string[] {
  const words = new Set(references.split(/\s+/));
  return [...new Set(candidates)].filter((t) => words.has(t));
}

/** The boot-time job: enables pf with a reference and loads the anchor file; its stderr keeps the token. */
export function pfJob(): LaunchdJob {
  return {
    label: PF_JOB_LABEL,
    programArguments: ['/sbin/pfctl', '-E', '-a', PF_ANCHOR, '-f', PF_ANCHOR_FILE],
    standardErrorPath: PF_BOOT_LOG,
  };
}

export interface PfObserved {
  /** Rules now in the anchor (`pfctl -a ANCHOR -s nat`). */
  anchorRules: string[];
  anchorFile: string | null;
  job: JobObserved;
  tokenFile: string | null;
  bootLog: string | null;
  /** Tokens from the token file and the boot log that pf still holds. */
  liveTokens: string[];
  enabled: boolean;
  /** The main ruleset has `rdr-anchor "com.apple/*"`; null when not asked. */
  appleRdrAnchor: boolean | null;
}

export interface PfDesired {
  ip: string;
  exposes: ExposeSpec[];
  /** Also install the boot-time job (persistence is launchd). */
  persist: boolean;
}

/**
 * Converges the redirects for exposed ports: anchor rules, the anchor file, the boot-time job and
 * one pf enable reference of our own. Pure; idempotent. Null (or no exposes) removes all of it,
 * releasing our references last — nothing after that step can fail and need it back.
 */
export function planPf(desired: PfDesired | null, obs: PfObserved): Plan {
  const plan = emptyPlan();
  if (!desired || desired.exposes.length === 0) {
    plan.steps.push(...planJobRemoval(PF_JOB_LABEL, obs.job));
    if (obs.anchorRules.length > 0) {
      const undo = obs.anchorFile !== null ? { undo: ['pfctl', '-a', PF_ANCHOR, '-f', PF_ANCHOR_FILE] } : {};
      plan.steps.push({ kind: 'run', argv: ['pfctl', '-a', PF_ANCHOR, '-F', 'all'], ...undo, why: `remove the redirects from the pf anchor ${PF_ANCHOR}` });
    }
    for (const [path, before] of [[PF_ANCHOR_FILE, obs.anchorFile], [PF_BOOT_LOG, obs.bootLog], [PF_TOKEN_PATH, obs.tokenFile]] as const) {
      if (before !== null) plan.steps.push({ kind: 'remove', path, before, why: `remove ${path}` });
    }
    for (const token of obs.liveTokens) {
      plan.steps.push({ kind: 'run', argv: ['pfctl', '-X', token], why: "release hostalias's pf enable reference (pf stays on while others hold one)" });
    }
    return plan;
  }
  const rules = anchorRules(desired.ip, desired.exposes);
  const content = anchorFileContent(desired.ip, desired.exposes);
  if (rules.join('\n') !== obs.anchorRules.join('\n')) {
    // Undo restores what was loaded: the file still holds it then (its own write is undone first).
    const fileHeldRules = obs.anchorFile !== null && parseRules(obs.anchorFile).join('\n') === obs.anchorRules.join('\n');
    const undo = obs.anchorRules.length === 0 ? ['pfctl', '-a', PF_ANCHOR, '-F', 'all'] : fileHeldRules ? ['pfctl', '-a', PF_ANCHOR, '-f', PF_ANCHOR_FILE] : undefined;
    plan.steps.push({ kind: 'run', argv: ['pfctl', '-a', PF_ANCHOR, '-f', '-'], input: content, ...(undo ? { undo } : {}), why: `load the redirects into the pf anchor ${PF_ANCHOR}` });
  }
  if (obs.anchorFile !== content) {
    plan.steps.push({ kind: 'write', path: PF_ANCHOR_FILE, content, mode: 0o644, before: obs.anchorFile, why: `keep the redirects in ${PF_ANCHOR_FILE} for the boot-time job` });
  }
  plan.steps.push(...(desired.persist ? planJob(pfJob(), obs.job, { load: false }) : planJobRemoval(PF_JOB_LABEL, obs.job)));
  if (obs.liveTokens.length === 0 || !obs.enabled) {
    const step: Step = {
      kind: 'run',
      argv: ['pfctl', '-E'],
      capture: { path: PF_TOKEN_PATH, pattern: TOKEN_PATTERN },
      undo: ['pfctl', '-X', CAPTURED],
      why: 'enable pf with a reference of our own (other pf users are not disturbed; down releases it)',
    };
    plan.steps.push(step);
  }
  if (obs.appleRdrAnchor === false) {
    plan.warnings.push(`the loaded pf ruleset has no rdr-anchor "com.apple/*", so the redirects in ${PF_ANCHOR} are never evaluated: restore that line from macOS's default /etc/pf.conf, then sudo pfctl -f /etc/pf.conf`);
  }
  return plan;
}
