import { kernelExposes } from '../../model/expose.js';
import type { Context } from '../../model/context.js';
import type { Part, PartInput } from '../../model/context.js';
import { HostaliasError } from '../../model/errors.js';
import { commandError, runChecked } from '../../exec/runner.js';
import type { RunResult } from '../../model/runner.js';
import { emptyPlan, planNote } from '../../model/steps.js';
import { hostsFilePart } from '../../parts/hosts-file.js';
import { runtimeCopyPart } from '../../parts/runtime-copy.js';
import { forwardLaunchdPart } from './forward-launchd.js';
import { dnsLaunchdPart } from './dns-launchd.js';
import { dnsEnginesPart } from '../../docker/dns-engines.js';
import { checkMacAliasConflicts, listMacAddresses, planMacAlias, wideLo0Alias } from './ifconfig.js';
import { aliasJob, ALIAS_JOB_LABEL, observeJob, PF_JOB_LABEL, planJob, planJobRemoval, plistPathFor } from './launchd.js';
import {
  hasAppleRdrAnchor,
  isMissingAnchor,
  isPfPermissionDenied,
  liveTokens,
  parsePfEnabled,
  parseRules,
  parseTokens,
  PF_ANCHOR,
  PF_ANCHOR_FILE,
  PF_BOOT_LOG,
  PF_TOKEN_PATH,
  pfDesiredOf,
  planPf,
  type PfDesired,
  type PfObserved,
} from './pf.js';
import { previewNote } from './preview-runner.js';
import { observeMacVersion } from './sw-vers.js';
import { fixCommand } from '../../model/invocation.js';
import { versionAtLeast } from '../../model/version.js';

/**
 * Refuses what macOS can't do before anything changes. Docker Desktop owns its daemon
 * configuration (Settings → Docker Engine) and already resolves host.docker.internal to the Mac,
 * so `--docker-daemon` is refused here whatever the Docker integration itself detects.
 */
export const macGuardPart: Part = {
  id: 'macos-guard',
  async plan(_ctx, { desired }) {
    const plan = emptyPlan();
    if (!desired) return plan;
    if (desired.dockerDaemon) {
      throw new HostaliasError(
        'unsupported',
        "--docker-daemon edits a Linux dockerd's /etc/docker/daemon.json; on macOS Docker runs as Docker Desktop, which manages its own daemon configuration and already makes host.docker.internal reach this Mac",
        `run it again with --no-docker-daemon; containers reach the alias directly (docker run --add-host local_host:${desired.ip} …, or hostalias run)`,
      );
    }
    return plan;
  },
};

/** The alias on lo0 (`ifconfig lo0 alias ADDR netmask 255.255.255.255`). */
export const macAliasPart: Part = {
  id: 'alias',
  async plan(ctx, { desired, state }) {
    // An image (--root) has no running lo0: the LaunchDaemon adds the alias at boot.
    if (!ctx.live) return emptyPlan();
    const addrs = await listMacAddresses(ctx.runner);
    if (desired) checkMacAliasConflicts(desired.ip, addrs);
    const plan = planMacAlias(desired?.ip ?? null, state?.desired.ip ?? null, addrs);
    const preview = await previewNote(ctx);
    if (preview) plan.notes.unshift(planNote('preview', preview));
    const wide = desired ? wideLo0Alias(addrs, desired.ip) : undefined;
    if (wide) {
      plan.notes.push(
        planNote(
          'alias-netmask-replaced',
          `${wide.local} was on lo0 as /${wide.prefixlen} (added without "netmask 255.255.255.255"); it is replaced by the /32. XNU gives loopback addresses a host route whatever the netmask, so the /${wide.prefixlen} made no other address local and nothing else changes`,
          { ip: wide.local, prefixlen: wide.prefixlen },
        ),
      );
    }
    return plan;
  },
};

/** A LaunchDaemon that re-adds the alias at boot (persistence kind `launchd`). */
export const launchdPart: Part = {
  id: 'persistence',
  async plan(ctx, { persistence, state }) {
    const wanted = persistence?.kind === 'launchd' ? persistence : null;
    const had = state?.persistence?.kind === 'launchd';
    if (!wanted && !had && !(await ctx.fs.exists(plistPathFor(ALIAS_JOB_LABEL)))) return emptyPlan();
    const obs = await observeJob(ctx, ALIAS_JOB_LABEL);
    const plan = emptyPlan();
    if (!wanted) {
      plan.steps.push(...planJobRemoval(ALIAS_JOB_LABEL, obs));
      return plan;
    }
    plan.steps.push(...planJob(aliasJob(wanted.ip), obs, { load: true }));
    if (plan.steps.length > 0) {
      // `launchctl bootstrap` exists since OS X 10.10; older systems only have `launchctl load`.
      const version = await observeMacVersion(ctx.runner);
      if (version && !versionAtLeast(version.productVersion, '10.10')) {
        throw new HostaliasError(
          'unsupported',
          `macOS ${version.productVersion} has no \`launchctl bootstrap\` (it came with OS X 10.10)`,
          `use --persist none and add the alias after each boot with ${fixCommand(ctx, 'up')}`,
        );
      }
      plan.notes.push(planNote('persistence', `persistence: ${wanted.reason}`, { kind: wanted.kind, reason: wanted.reason }));
    }
    return plan;
  },
};

function pfDesired({ desired, persistence }: PartInput): PfDesired | null {
  return desired ? pfDesiredOf(desired, persistence?.kind === 'launchd') : null;
}

async function pfRelevant(ctx: Context, input: PartInput): Promise<boolean> {
  if (pfDesired(input) !== null) return true;
  const had = input.state?.desired;
  if (had && (had.lanGuard || kernelExposes(had.exposes).length > 0)) return true;
  for (const path of [PF_ANCHOR_FILE, PF_TOKEN_PATH, PF_BOOT_LOG, plistPathFor(PF_JOB_LABEL)]) {
    if (await ctx.fs.exists(path)) return true;
  }
  return false;
}

/** What `pfctl ARGS` answered: its output (an absent anchor reads as empty), /dev/pf refused, or another failure. */
export type PfAnswer = { text: string } | { denied: true; res: RunResult } | { error: string; res: RunResult };

/** `pfctl ARGS` on the runner, never throwing: readPf's answer before it decides what is an error. */
export async function askPf(ctx: Context, args: readonly string[]): Promise<PfAnswer> {
  const res = await ctx.runner.run(['pfctl', ...args]);
  if (isMissingAnchor(res.stderr)) return { text: '' };
  if (res.code === 0) return { text: res.stdout };
  if (isPfPermissionDenied(res.stderr)) return { denied: true, res };
  return { error: (res.stderr || `exit ${res.code}`).trim(), res };
}

/** The output of an answer, or empty when pfctl failed. */
export function pfText(answer: PfAnswer): string {
  return 'text' in answer ? answer.text : '';
}

/** `pfctl ARGS`: stdout, or null when pf can't be read without root. An absent anchor reads as empty. */
export async function readPf(ctx: Context, args: string[], doing: string): Promise<string | null> {
  // An image (--root) has no running pf: every live answer is "nothing loaded".
  if (!ctx.live) return '';
  const answer = await askPf(ctx, args);
  if ('text' in answer) return answer.text;
  if ('denied' in answer && !ctx.isRoot) return null;
  throw commandError(['pfctl', ...args], doing, answer.res);
}

/**
 * What the pf planner needs. pfctl reads /dev/pf, which only root may open; as a user (a --dry-run,
 * or doctor) the loaded rules are assumed to be what hostalias's own files say, and the plan notes
 * that assumption. The real run (root) reads pf itself.
 */
export async function observePf(ctx: Context, want: boolean): Promise<PfObserved> {
  const tokenFile = await ctx.fs.read(PF_TOKEN_PATH);
  const bootLog = await ctx.fs.read(PF_BOOT_LOG);
  const anchorFile = await ctx.fs.read(PF_ANCHOR_FILE);
  const job = await observeJob(ctx, PF_JOB_LABEL);
  const candidates = [...parseTokens(bootLog ?? ''), ...(tokenFile?.match(/\d+/g) ?? [])];
  const nat = await readPf(ctx, ['-a', PF_ANCHOR, '-s', 'nat'], `listing the redirects in the pf anchor ${PF_ANCHOR}`);
  if (nat === null) {
    return {
      anchorRules: parseRules(anchorFile ?? ''),
      anchorFile,
      job,
      tokenFile,
      bootLog,
      liveTokens: [...new Set(candidates)],
      enabled: candidates.length > 0,
      appleRdrAnchor: null,
      assumed: `pf can only be read by root (/dev/pf): this plan assumes the anchor ${PF_ANCHOR} holds what ${PF_ANCHOR_FILE} says${anchorFile === null ? ' (nothing)' : ''} and that hostalias's pf reference${candidates.length ? ` (${candidates.join(', ')})` : ''} is ${candidates.length ? 'live' : 'not taken'}; sudo shows the exact plan`,
    };
  }
  const filter = await readPf(ctx, ['-a', PF_ANCHOR, '-s', 'rules'], `listing the filter rules in the pf anchor ${PF_ANCHOR}`);
  // Past the anchor read, pf answers root only: any failure here is an error, not a missing anchor.
  const pfctl = async (args: string[], doing: string) => (ctx.live ? (await runChecked(ctx.runner, ['pfctl', ...args], doing)).stdout : '');
  return {
    anchorRules: [...parseRules(nat), ...parseRules(filter ?? '')],
    anchorFile,
    job,
    tokenFile,
    bootLog,
    liveTokens: candidates.length > 0 ? liveTokens(candidates, await pfctl(['-s', 'References'], 'listing pf enable references')) : [],
    enabled: want ? parsePfEnabled(await pfctl(['-s', 'info'], 'asking whether pf is enabled')) : false,
    appleRdrAnchor: want ? hasAppleRdrAnchor(await pfctl(['-s', 'nat'], 'listing the main pf ruleset')) : null,
  };
}

/**
 * pf on macOS: the LAN guard's filter rules and the --keep-source redirects
 * (ADDR:PORT → 127.0.0.1:TO), in an anchor of our own.
 */
export const pfPart: Part = {
  id: 'pf-expose',
  async plan(ctx, input) {
    if (!(await pfRelevant(ctx, input))) return emptyPlan();
    const wanted = pfDesired(input);
    const plan = planPf(wanted, await observePf(ctx, wanted !== null));
    if (wanted && wanted.exposes.length > 0 && plan.steps.length > 0) {
      plan.notes.push(
        planNote(
          'pf-keeps-source',
          `pf keeps the source of redirected connections: through Docker Desktop, OrbStack or Lima the service sees ${wanted.ip} (their proxies connect from this Mac to the alias), not 127.0.0.1; allow that address in its access rules (pg_hba.conf: host all all ${wanted.ip}/32 scram-sha-256; MySQL: 'user'@'${wanted.ip}'), or expose without --keep-source (--via relay) to go through the relay`,
          { ip: wanted.ip },
        ),
      );
    }
    return plan;
  },
};

/**
 * Parts in `up` order; `down` runs them reversed. pf comes first so that on `down` releasing the
 * pf enable reference (which can't be undone) is the very last step.
 */
export const darwinParts: readonly Part[] = [
  macGuardPart,
  pfPart,
  macAliasPart,
  launchdPart,
  dnsEnginesPart,
  runtimeCopyPart,
  forwardLaunchdPart,
  dnsLaunchdPart,
  hostsFilePart,
];
