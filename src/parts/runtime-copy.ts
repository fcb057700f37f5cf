import type { Context } from '../model/context.js';
import type { Part } from '../model/context.js';
import { managedForwards } from '../model/expose.js';
import { emptyPlan, type Plan, type Step, planNote } from '../model/steps.js';
import { locateRuntimeSource, RUNTIME_CURRENT, RUNTIME_DIR, type RuntimeSource } from '../exec/runtime.js';

/** Folder names this part owns under RUNTIME_DIR; anything else there is never touched. */
const VERSION_DIR = /^\d+\.\d+\.\d+[\w.+-]*-[0-9a-f]{12}$/;

export interface RuntimeCopyObserved {
  /** Version folder name → the files in it. */
  versions: Record<string, string[]>;
  /** Target of RUNTIME_DIR/current (null: none). */
  current: string | null;
  /** runtime.json of the wanted version folder (null: absent or incomplete copy). */
  manifest: string | null;
  /** Entries of RUNTIME_DIR other than version folders and `current` (kept, and so is the folder). */
  others: string[];
}

export async function observeRuntimeCopy(ctx: Context, id: string | null): Promise<RuntimeCopyObserved> {
  const versions: Record<string, string[]> = {};
  const others: string[] = [];
  for (const name of await ctx.fs.list(RUNTIME_DIR)) {
    if (name === 'current') continue;
    if (VERSION_DIR.test(name)) versions[name] = await ctx.fs.list(`${RUNTIME_DIR}/${name}`);
    else others.push(name);
  }
  return {
    versions,
    current: await ctx.fs.readLink(RUNTIME_CURRENT),
    manifest: id === null ? null : await ctx.fs.read(`${RUNTIME_DIR}/${id}/runtime.json`),
    others,
  };
}

/**
 * Converges RUNTIME_DIR to one complete copy of `source` with `current` pointing at it (null:
 * nothing installed, for `down` or a setup no unit runs node for). The copy is written into its
 * own version folder (runtime.json last, so a half copy is never taken for a whole one), then
 * `current` flips in one rename, then older versions go. Pure; planning again returns no steps.
 */
export function planRuntimeCopy(source: RuntimeSource | null, obs: RuntimeCopyObserved): Plan {
  const plan = emptyPlan();
  const keep = source?.id ?? null;
  if (source && obs.manifest !== source.manifest) {
    const dir = `${RUNTIME_DIR}/${source.id}`;
    plan.steps.push({ kind: 'copy', from: source.node, path: `${dir}/node`, mode: 0o755, why: `install the node boot units run (${source.id})` });
    plan.steps.push({ kind: 'copy', from: source.dir, path: dir, files: source.files, mode: 0o644, why: `install hostalias ${source.id} for boot units` });
  }
  if (source && obs.current !== source.id) {
    plan.steps.push({ kind: 'symlink', path: RUNTIME_CURRENT, target: source.id, why: `make boot units run hostalias ${source.id}` });
  }
  if (!source && obs.current !== null)
    plan.steps.push({ kind: 'remove', path: RUNTIME_CURRENT, before: null, why: 'remove the link boot units ran hostalias through' });
  for (const [name, files] of Object.entries(obs.versions).sort()) {
    if (name === keep) continue;
    const dir = `${RUNTIME_DIR}/${name}`;
    const why = `remove hostalias ${name}, which no unit runs any more`;
    for (const f of files) plan.steps.push({ kind: 'remove', path: `${dir}/${f}`, before: null, why });
    plan.steps.push({ kind: 'remove', path: dir, before: null, why });
  }
  const empty = !source && obs.others.length === 0;
  if (empty && plan.steps.length > 0) plan.steps.push({ kind: 'remove', path: RUNTIME_DIR, before: null, why: `remove ${RUNTIME_DIR}` });
  if (source && plan.steps.some((s: Step) => s.kind === 'copy'))
    plan.notes.push(
      planNote('runtime-copy', `boot units run ${RUNTIME_CURRENT} (hostalias ${source.id}), not the folder hostalias was run from`, { id: source.id }),
    );
  return plan;
}

/**
 * The installed copy of node + hostalias that units start. Only relays and the resolver run node
 * at boot (`forward --install`, `expose` via relay and `up --dns`: systemd units on Linux,
 * LaunchDaemons on macOS; the alias and firewall units run ip, nft, ifconfig, pfctl), so the copy
 * exists while one of them is installed; without one an old copy is removed.
 */
export const runtimeCopyPart: Part = {
  id: 'runtime',
  async plan(ctx, { desired }) {
    const source = desired && (managedForwards(desired).length > 0 || desired.dns) ? await locateRuntimeSource() : null;
    const obs = await observeRuntimeCopy(ctx, source?.id ?? null);
    return planRuntimeCopy(source, obs);
  },
};
