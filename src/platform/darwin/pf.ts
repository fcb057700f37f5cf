import { isManaged, managedHeader } from '../../model/managed.js';
import { HostaliasError } from '../../model/errors.js';
import type { Desired, ExposeSpec } from '../../model/config.js';
import { kernelExposes } from '../../model/expose.js';
import { STATE_DIR } from '../../model/state.js';
import { CAPTURED, emptyPlan, type Plan, type Step, planNote } from '../../model/steps.js';
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

/** The LAN guard on macOS: what may reach the alias from outside lo0. */
export interface PfGuard {
  /** Interfaces trusted like lo0 (`--allow-iface`, e.g. Colima's bridge100 with --network-address). */
  allowIfaces: readonly string[];
}

/**
 * The LAN guard as pf filter rules, written as `pfctl -s rules` prints them back. XNU accepts a
 * packet for a lo0 address on any interface (weak host model), so a LAN host routing ALIAS to this
 * Mac reaches whatever listens there; these drop it unless it came through lo0 (the Mac itself,
 * Docker Desktop's and Lima's host-side proxies) or a trusted interface. A `pass` rule is printed
 * with pf's implicit `flags S/SA keep state`. Pure.
 */
export function guardRules(ip: string, guard: PfGuard): string[] {
  return [
    ...[...guard.allowIfaces].sort().map((i) => `pass in quick on ${i} inet from any to ${ip} flags S/SA keep state`),
    `block drop in quick on ! lo0 inet from any to ${ip}`,
  ];
}

/** Redirects (as `pfctl -s nat` prints them) then filter rules (as `pfctl -s rules` does). Pure. */
export function anchorRules(ip: string, exposes: readonly ExposeSpec[], guard: PfGuard | null = null): string[] {
  const rdr = [...exposes].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port).map((e) => rdrRule(ip, e));
  return [...rdr, ...(guard ? guardRules(ip, guard) : [])];
}

export function anchorFileContent(ip: string, exposes: readonly ExposeSpec[], guard: PfGuard | null = null): string {
  return `${managedHeader('#', 'sudo hostalias down')}
# Loaded into the pf anchor ${PF_ANCHOR} (evaluated through rdr-anchor and anchor "com.apple/*" in /etc/pf.conf).
${anchorRules(ip, exposes, guard).join('\n')}
`;
}

/**
 * pfctl's answer for an anchor that doesn't exist yet: `pfctl: DIOCGETRULES: Invalid argument`
 * (quoted from macOS in NikushaKalatozi/MacOS-Big-Sur-Sharing-Host-VPN-with-Guest#6 and
 * osquery/osquery#1521). pfctl warns and, depending on the version, exits 0 or 1; either way the
 * anchor holds no rules.
 */
export function isMissingAnchor(stderr: string): boolean {
  return /DIOCGETRULES: Invalid argument/.test(stderr);
}

/** pfctl could not open /dev/pf: it is readable by root only (`pfctl: /dev/pf: Permission denied`, pfctl.c's err(1, "/dev/pf")). */
export function isPfPermissionDenied(stderr: string): boolean {
  return /\/dev\/pf: (Permission denied|Operation not permitted)/.test(stderr);
}

/** One rule of `pfctl -v -s nat|rules` with the counters pfctl prints under it. */
export interface RuleCounters {
  rule: string;
  evaluations: number;
  packets: number;
  states: number;
}

/**
 * Parses `pfctl -v -s nat` / `-v -s rules`: each rule line is followed by
 * `  [ Evaluations: N  Packets: N  Bytes: N  States: N ]` (pfctl_parser.c's verbose format, the
 * same in macOS's pfctl) and, on macOS, `  [ Inserted: uid U pid P ]`. Pure.
 */
export function parseRuleCounters(text: string): RuleCounters[] {
  const out: RuleCounters[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\[ Evaluations: (\d+)\s+Packets: (\d+)\s+Bytes: (\d+)\s+States: (\d+)\s*\]/.exec(line);
    const last = out.at(-1);
    if (m) {
      if (last) Object.assign(last, { evaluations: Number(m[1]), packets: Number(m[2]), states: Number(m[4]) });
      continue;
    }
    const rule = line.trim();
    if (rule === '' || rule.startsWith('[') || parseRules(rule).length === 0) continue;
    out.push({ rule, evaluations: 0, packets: 0, states: 0 });
  }
  return out;
}

/**
 * Interfaces pf skips entirely (`set skip on lo0` in /etc/pf.conf, common in hardening guides):
 * `pfctl -v -s Interfaces` prints them as `lo0 (skip)` (pfctl_parser.c print_iface). With lo0
 * skipped, no rule on lo0 — our rdr — is ever evaluated. Pure.
 */
export function parseSkippedIfaces(text: string): string[] {
  return [...text.matchAll(/^(\S+) \(skip\)\s*$/gm)].map((m) => m[1] as string);
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
  /** Set when pf could not be read (no root: a --dry-run or doctor as a user): what was assumed instead. */
  assumed?: string;
}

export interface PfDesired {
  ip: string;
  /** The exposes pf redirects (those with --keep-source; the others go through the relay). */
  exposes: ExposeSpec[];
  /** The LAN guard's filter rules; null when --no-lan-guard. */
  guard: PfGuard | null;
  /** Also install the boot-time job (persistence is launchd). */
  persist: boolean;
}

/** What pf must hold for `desired`: its --keep-source redirects and the LAN guard; null when neither is wanted. Pure. */
export function pfDesiredOf(desired: Pick<Desired, 'ip' | 'exposes' | 'lanGuard' | 'allowIfaces'>, persist: boolean): PfDesired | null {
  const exposes = kernelExposes(desired.exposes);
  const guard = desired.lanGuard ? { allowIfaces: desired.allowIfaces } : null;
  if (exposes.length === 0 && !guard) return null;
  return { ip: desired.ip, exposes, guard, persist };
}

/** The anchor's rules for `desired` (none for null), as pfctl prints them back. Pure. */
export function pfRulesFor(desired: PfDesired | null): string[] {
  return desired ? anchorRules(desired.ip, desired.exposes, desired.guard) : [];
}

/**
 * Converges the redirects for exposed ports: anchor rules, the anchor file, the boot-time job and
 * one pf enable reference of our own. Pure; idempotent. Null (or no exposes) removes all of it,
 * releasing our references last (only the files that name them come after: removing a file can
 * be undone, and what it holds is then no longer live).
 */
export function planPf(desired: PfDesired | null, obs: PfObserved): Plan {
  const plan = emptyPlan();
  if (obs.assumed) plan.notes.push(planNote('pf-assumed', obs.assumed));
  // A file at our path without our header is someone else's: never loaded, rewritten or removed.
  const ownFile = isManaged(obs.anchorFile) ? obs.anchorFile : null;
  if (!desired || (desired.exposes.length === 0 && !desired.guard)) {
    plan.steps.push(...planJobRemoval(PF_JOB_LABEL, obs.job));
    if (obs.anchorRules.length > 0) {
      const undo = ownFile !== null ? { undo: ['pfctl', '-a', PF_ANCHOR, '-f', PF_ANCHOR_FILE] } : {};
      plan.steps.push({ kind: 'run', argv: ['pfctl', '-a', PF_ANCHOR, '-F', 'all'], ...undo, why: `remove the redirects from the pf anchor ${PF_ANCHOR}` });
    }
    if (ownFile !== null) plan.steps.push({ kind: 'remove', path: PF_ANCHOR_FILE, before: ownFile, why: `remove ${PF_ANCHOR_FILE}` });
    for (const token of obs.liveTokens) {
      plan.steps.push({ kind: 'run', argv: ['pfctl', '-X', token], why: "release hostalias's pf enable reference (pf stays on while others hold one)" });
    }
    // The files holding the tokens go only after the release: a run killed between the two leaves
    // a token that is no longer live (skipped next time), never a live reference nobody knows.
    for (const [path, before] of [
      [PF_BOOT_LOG, obs.bootLog],
      [PF_TOKEN_PATH, obs.tokenFile],
    ] as const) {
      if (before !== null) plan.steps.push({ kind: 'remove', path, before, why: `remove ${path}` });
    }
    return plan;
  }
  if (obs.anchorFile !== null && ownFile === null) {
    throw new HostaliasError(
      'conflict',
      `${PF_ANCHOR_FILE} exists and was not written by hostalias`,
      `move it away (sudo mv ${PF_ANCHOR_FILE} /tmp/) and run hostalias up again`,
    );
  }
  const rules = pfRulesFor(desired);
  const content = anchorFileContent(desired.ip, desired.exposes, desired.guard);
  if (rules.join('\n') !== obs.anchorRules.join('\n')) {
    // Undo restores what was loaded: the file still holds it then (its own write is undone first).
    const fileHeldRules = obs.anchorFile !== null && parseRules(obs.anchorFile).join('\n') === obs.anchorRules.join('\n');
    const undo =
      obs.anchorRules.length === 0 ? ['pfctl', '-a', PF_ANCHOR, '-F', 'all'] : fileHeldRules ? ['pfctl', '-a', PF_ANCHOR, '-f', PF_ANCHOR_FILE] : undefined;
    plan.steps.push({
      kind: 'run',
      argv: ['pfctl', '-a', PF_ANCHOR, '-f', '-'],
      input: content,
      ...(undo ? { undo } : {}),
      why: `load the redirects into the pf anchor ${PF_ANCHOR}`,
    });
  }
  if (obs.anchorFile !== content) {
    plan.steps.push({
      kind: 'write',
      path: PF_ANCHOR_FILE,
      content,
      mode: 0o644,
      before: obs.anchorFile,
      why: `keep the redirects in ${PF_ANCHOR_FILE} for the boot-time job`,
    });
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
  if (obs.appleRdrAnchor === false && desired.exposes.length > 0) {
    plan.warnings.push(
      planNote(
        'pf-no-apple-anchor',
        `the loaded pf ruleset has no rdr-anchor "com.apple/*", so the rules in ${PF_ANCHOR} are never evaluated: restore that line from macOS's default /etc/pf.conf, then sudo pfctl -f /etc/pf.conf`,
        { anchor: PF_ANCHOR },
      ),
    );
  }
  return plan;
}
