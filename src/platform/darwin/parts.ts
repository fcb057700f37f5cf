import type { Context } from '../../model/context.js';
import type { Part, PartInput } from '../../model/part.js';
import { HostaliasError } from '../../model/errors.js';
import { runChecked } from '../../exec/runner.js';
import { emptyPlan } from '../../model/steps.js';
import { hostsFilePart } from '../../parts/hosts-file.js';
import { runtimeCopyPart } from '../../parts/runtime-copy.js';
import { kernelExposes } from '../../model/expose.js';
import { forwardLaunchdPart } from './forward-launchd.js';
import { checkMacAliasConflicts, listMacAddresses, planMacAlias } from './ifconfig.js';
import { aliasJob, ALIAS_JOB_LABEL, observeJob, PF_JOB_LABEL, planJob, planJobRemoval, plistPathFor } from './launchd.js';
import { hasAppleRdrAnchor, liveTokens, parsePfEnabled, parseRules, parseTokens, PF_ANCHOR, PF_ANCHOR_FILE, PF_BOOT_LOG, PF_TOKEN_PATH, planPf, type PfObserved } from './pf.js';
import { previewNote } from './preview-runner.js';
import { macVersionAtLeast, observeMacVersion } from './sw-vers.js';

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
    if (preview) plan.notes.unshift(preview);
    if (desired?.lanGuard && plan.steps.length > 0) {
      plan.notes.push(`lan guard: not available on macOS (it is an nftables rule on Linux); a LAN host that routes ${desired.ip} to this Mac can reach services bound to the alias or 0.0.0.0 — bind them to 127.0.0.1 and use hostalias expose`);
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
      if (version && !macVersionAtLeast(version.productVersion, 10, 10)) {
        throw new HostaliasError('unsupported', `macOS ${version.productVersion} has no \`launchctl bootstrap\` (it came with OS X 10.10)`, 'use --persist none and add the alias after each boot with sudo hostalias up');
      }
      plan.notes.push(`persistence: ${wanted.reason}`);
    }
    return plan;
  },
};

async function pfRelevant(ctx: Context, input: PartInput): Promise<boolean> {
  if (kernelExposes(input.desired?.exposes ?? []).length > 0 || kernelExposes(input.state?.desired.exposes ?? []).length > 0) return true;
  for (const path of [PF_ANCHOR_FILE, PF_TOKEN_PATH, PF_BOOT_LOG, plistPathFor(PF_JOB_LABEL)]) {
    if (await ctx.fs.exists(path)) return true;
  }
  return false;
}

/** What the pf planner needs; pfctl is asked only when hostalias has or wants exposed ports (it needs root). */
async function observePf(ctx: Context, wantExposes: boolean): Promise<PfObserved> {
  // An image (--root) has no running pf: every live answer is "nothing loaded".
  const pfctl = async (args: string[], doing: string) => (ctx.live ? (await runChecked(ctx.runner, ['pfctl', ...args], doing)).stdout : '');
  const tokenFile = await ctx.fs.read(PF_TOKEN_PATH);
  const bootLog = await ctx.fs.read(PF_BOOT_LOG);
  const candidates = [...parseTokens(bootLog ?? ''), ...(tokenFile?.match(/\d+/g) ?? [])];
  return {
    anchorRules: parseRules(await pfctl(['-a', PF_ANCHOR, '-s', 'nat'], `listing the redirects in the pf anchor ${PF_ANCHOR}`)),
    anchorFile: await ctx.fs.read(PF_ANCHOR_FILE),
    job: await observeJob(ctx, PF_JOB_LABEL),
    tokenFile,
    bootLog,
    liveTokens: candidates.length > 0 ? liveTokens(candidates, await pfctl(['-s', 'References'], 'listing pf enable references')) : [],
    enabled: wantExposes ? parsePfEnabled(await pfctl(['-s', 'info'], 'asking whether pf is enabled')) : false,
    appleRdrAnchor: wantExposes ? hasAppleRdrAnchor(await pfctl(['-s', 'nat'], 'listing the main pf ruleset')) : null,
  };
}

/** `expose` on macOS: pf redirects ADDR:PORT → 127.0.0.1:TO in an anchor of our own. */
export const pfPart: Part = {
  id: 'pf-expose',
  async plan(ctx, input) {
    if (!(await pfRelevant(ctx, input))) return emptyPlan();
    const { desired, persistence } = input;
    // Exposes carried by a relay (--via relay) are forward jobs, not pf rules (issue 11).
    const exposes = desired ? kernelExposes(desired.exposes) : [];
    const wanted = desired && exposes.length > 0 ? { ip: desired.ip, exposes, persist: persistence?.kind === 'launchd' } : null;
    const plan = planPf(wanted, await observePf(ctx, wanted !== null));
    if (wanted && exposes.some((e) => e.keepSource)) {
      plan.notes.push('pf keeps the source address of redirected connections on macOS; --keep-source changes nothing here');
    }
    return plan;
  },
};

/**
 * Parts in `up` order; `down` runs them reversed. pf comes first so that on `down` releasing the
 * pf enable reference (which can't be undone) is the very last step.
 */
export const darwinParts: readonly Part[] = [macGuardPart, pfPart, macAliasPart, launchdPart, runtimeCopyPart, forwardLaunchdPart, hostsFilePart];
