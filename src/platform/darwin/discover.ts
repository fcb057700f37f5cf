import type { Context } from '../../model/context.js';
import { DEFAULT_IP, parseAliasIp } from '../../model/address.js';
import { defaultDesired, type ForwardSpec } from '../../model/config.js';
import { hasBlock } from '../../model/marked-block.js';
import { isManaged } from '../../model/managed.js';
import { backupPathFor, type State } from '../../model/state.js';
import { HOSTS_PATH, hostsBlockIp } from '../../parts/hosts-file.js';
import { observeRuntimeCopy } from '../../parts/runtime-copy.js';
import { RUNTIME_DIR } from '../../exec/runtime.js';
import { forwardLabelOfFile, forwardLogPath, observeForwardJobs, parseForwardLabel } from './forward-launchd.js';
import { isLo0Slash32, listLo0 } from './ifconfig.js';
import { ALIAS_JOB_LABEL, parseLaunchctlPrint, PF_JOB_LABEL, plistPathFor } from './launchd.js';
import { observePf } from './parts.js';
import { PF_ANCHOR, PF_ANCHOR_FILE, PF_BOOT_LOG, PF_TOKEN_PATH, parseRules } from './pf.js';

const QUAD = String.raw`(\d{1,3}(?:\.\d{1,3}){3})`;
/** The address in the alias job's ProgramArguments, as a plist and as `launchctl print` lists them. */
const PLIST_ALIAS = new RegExp(String.raw`<string>alias</string>\s*<string>${QUAD}</string>`);
const PRINTED_ALIAS = new RegExp(String.raw`arguments = \{[^}]*?\balias\s+${QUAD}\s`);
/** An expose's relay listens on the alias (`--for-expose`); a `forward --listen` may be any address. */
const PLIST_LISTEN = new RegExp(String.raw`<string>--listen</string>\s*<string>${QUAD}</string>`);
const RULE_TO = new RegExp(String.raw` to ${QUAD}\b`);

function validIp(text: string | undefined): string | null {
  if (text === undefined) return null;
  try {
    return parseAliasIp(text);
  } catch {
    return null;
  }
}

/** The first valid address a rule sends to (`… to ADDR …`), or null. */
function ruleIp(rules: readonly string[]): string | null {
  return rules.map((r) => validIp(RULE_TO.exec(r)?.[1])).find((x) => x !== null) ?? null;
}

/** `launchctl print system/LABEL`, or null when launchd is not asked (--root) or has no such job. */
async function printedJob(ctx: Context, label: string): Promise<string | null> {
  if (ctx.fs.isRooted) return null;
  const res = await ctx.runner.run(['launchctl', 'print', `system/${label}`]);
  return parseLaunchctlPrint(label, res) ? res.stdout : null;
}

/**
 * What hostalias may have installed on a Mac, found by its own markers when state.json is missing
 * or unreadable: LaunchDaemons with its labels and managed header (on disk, or still
 * loaded in launchd), the pf anchor file, token and boot log, rules loaded in the anchor
 * com.apple/hostalias, relay logs, the installed runtime copy, the marked block in /etc/hosts
 * and its backup. The alias address comes from those markers; ifconfig shows no owner, so on lo0
 * an address counts only when a marker names it or it is hostalias's default address with the
 * /32 netmask hostalias always adds (a hand-made `ifconfig lo0 alias 10.254.254.254` gets the
 * classful /8 and is left alone). hostalias never edits /etc/pf.conf (see PF_ANCHOR), so there is
 * nothing of it to find there. Returns one state per alias address, and what was found. Read-only.
 */
export async function discoverMac(ctx: Context): Promise<{ states: State[]; found: string[] }> {
  const found: string[] = [];
  const ips = new Set<string>();
  const note = (what: string, ip: string | null = null) => {
    found.push(what);
    if (ip) ips.add(ip);
  };

  let persist = false;
  const aliasPlist = await ctx.fs.read(plistPathFor(ALIAS_JOB_LABEL));
  const aliasPrinted = await printedJob(ctx, ALIAS_JOB_LABEL);
  if (isManaged(aliasPlist)) {
    const ip = validIp(PLIST_ALIAS.exec(aliasPlist ?? '')?.[1]);
    note(`${plistPathFor(ALIAS_JOB_LABEL)} (launchd persistence${ip ? ` of ${ip}` : ''})`, ip);
    persist = true;
  } else if (aliasPlist === null && aliasPrinted !== null) {
    const ip = validIp(PRINTED_ALIAS.exec(aliasPrinted)?.[1]);
    note(`${ALIAS_JOB_LABEL} loaded in launchd${ip ? ` (adds ${ip})` : ''}`, ip);
    persist = true;
  }

  let pf = false;
  // The pf planner's observer, without the questions only `up` needs (is pf enabled, Apple's rdr-anchor).
  const obs = await observePf(ctx, false);
  if (isManaged(obs.anchorFile)) {
    pf = true;
    note(`the pf anchor file ${PF_ANCHOR_FILE}`, ruleIp(parseRules(obs.anchorFile ?? '')));
  }
  if (isManaged(obs.job.file) || (obs.job.file === null && obs.job.loaded === true)) {
    pf = true;
    note(obs.job.file === null ? `${PF_JOB_LABEL} loaded in launchd` : plistPathFor(PF_JOB_LABEL));
  }
  for (const [path, text] of [
    [PF_TOKEN_PATH, obs.tokenFile],
    [PF_BOOT_LOG, obs.bootLog],
  ] as const) {
    if (text === null) continue;
    pf = true;
    note(path);
  }
  // pf is readable by root only; as a user (a --dry-run) the files above are all there is to go by,
  // and observePf's rules are then the anchor file's (`assumed`), not what is loaded.
  if (ctx.isRoot && !obs.assumed && obs.anchorRules.length > 0) {
    pf = true;
    note(`${obs.anchorRules.length} rule(s) loaded in the pf anchor ${PF_ANCHOR}`, ruleIp(obs.anchorRules));
  }

  // Relays: their plists (managed header) and their logs name the labels, which lets a job still
  // loaded without its plist be booted out too (the relay part asks launchd about each label).
  const relays = new Map<string, ForwardSpec>();
  const relay = (label: string) => {
    const spec = parseForwardLabel(label);
    if (spec) relays.set(label, { ...spec, targets: [] });
  };
  const forwards = await observeForwardJobs(ctx, []);
  for (const [label, job] of Object.entries(forwards.jobs)) {
    if (!isManaged(job.file)) continue;
    const ip = job.file?.includes('<string>--for-expose</string>') ? validIp(PLIST_LISTEN.exec(job.file)?.[1]) : null;
    note(`the relay LaunchDaemon ${plistPathFor(label)}`, ip);
    relay(label);
  }
  for (const name of await ctx.fs.list('/var/log')) {
    const label = forwardLabelOfFile(name, '.log');
    if (!label || relays.has(label)) continue;
    note(`the relay log ${forwardLogPath(label)}`);
    relay(label);
  }

  const runtime = await observeRuntimeCopy(ctx, null);
  if (runtime.current !== null || Object.keys(runtime.versions).length > 0) note(`the installed copy in ${RUNTIME_DIR}`);

  const hosts = await ctx.fs.read(HOSTS_PATH);
  const hostsBlock = hosts !== null && hasBlock(hosts);
  if (hostsBlock) note(`the hostalias block in ${HOSTS_PATH}`, validIp(hostsBlockIp(hosts ?? '') ?? undefined));
  if (await ctx.fs.exists(backupPathFor(HOSTS_PATH))) note(`the backup of ${HOSTS_PATH} in ${backupPathFor(HOSTS_PATH)}`);

  if (ctx.live) {
    for (const a of await listLo0(ctx.runner)) {
      if (!isLo0Slash32(a)) continue;
      if (ips.has(a.local)) found.push(`${a.local}/32 on lo0`);
      else if (a.local === DEFAULT_IP) note(`${a.local}/32 on lo0 (hostalias's default address and netmask)`, a.local);
    }
  }

  if (found.length === 0) return { states: [], found };
  if (ips.size === 0) ips.add(DEFAULT_IP);
  const states = [...ips].map(
    (ip): State => ({
      version: 1,
      desired: { ...defaultDesired(), ip, hostsFile: hostsBlock, lanGuard: pf, persist: persist ? 'launchd' : 'none', forwards: [...relays.values()] },
      persistence: persist ? { kind: 'launchd', reason: 'found by its markers', ip, label: defaultDesired().label } : null,
      updatedAt: new Date().toISOString(),
    }),
  );
  return { states, found };
}
