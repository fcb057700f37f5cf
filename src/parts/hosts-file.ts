import type { Part } from '../model/context.js';
import { backupPathFor } from '../model/state.js';
import { blockBody, hasBlock, setBlock, stripBlock } from '../model/marked-block.js';
import { emptyPlan, type Plan } from '../model/steps.js';

export const HOSTS_PATH = '/etc/hosts';

export function hostsWithNames(current: string, ip: string, names: readonly string[]): string {
  return setBlock(current, [`${ip}\t${names.join(' ')}`]);
}

/** The address hostsWithNames wrote into `text`'s block, or null (no block, or not an IPv4 address there). Pure. */
export function hostsBlockIp(text: string): string | null {
  return /^(\d{1,3}(?:\.\d{1,3}){3})\s/.exec(blockBody(text)?.[0] ?? '')?.[1] ?? null;
}

/**
 * Keeps a marked block naming the alias in /etc/hosts, so one URL works on the host and in
 * containers. Pure; idempotent. `desired` null removes the block and the backup.
 */
export function planHostsFile(desired: { ip: string; names: string[] } | null, current: string | null, backup: string | null): Plan {
  const plan = emptyPlan();
  const text = current ?? '';
  const backupPath = backupPathFor(HOSTS_PATH);
  if (desired) {
    const next = hostsWithNames(text, desired.ip, desired.names);
    if (next === text) return plan;
    if (current !== null && !hasBlock(current) && backup === null) {
      plan.steps.push({ kind: 'write', path: backupPath, content: current, mode: 0o600, before: null, why: `back up ${HOSTS_PATH} before editing it` });
    }
    plan.steps.push({ kind: 'write', path: HOSTS_PATH, content: next, mode: 0o644, before: current, why: `name the alias in ${HOSTS_PATH}` });
    return plan;
  }
  if (current !== null && hasBlock(current)) {
    plan.steps.push({
      kind: 'write',
      path: HOSTS_PATH,
      content: stripBlock(current),
      mode: 0o644,
      before: current,
      why: `remove hostalias's names from ${HOSTS_PATH}`,
    });
  }
  if (backup !== null) plan.steps.push({ kind: 'remove', path: backupPath, before: backup, why: `drop the backup of ${HOSTS_PATH}` });
  return plan;
}

/** The names in /etc/hosts, on every platform (`up --hosts-file`). */
export const hostsFilePart: Part = {
  id: 'hosts-file',
  async plan(ctx, { desired }) {
    const current = await ctx.fs.read(HOSTS_PATH);
    const backup = await ctx.fs.read(backupPathFor(HOSTS_PATH));
    return planHostsFile(desired?.hostsFile ? { ip: desired.ip, names: desired.names } : null, current, backup);
  },
};
