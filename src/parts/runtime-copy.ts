import type { Context, Part, RuntimeLibraries } from '../model/context.js';
import { managedForwards } from '../model/expose.js';
import { emptyPlan, type Plan, type Step, planNote } from '../model/steps.js';
import { locateRuntimeSource, RUNTIME_CURRENT, RUNTIME_DIR, type RuntimeSource } from '../exec/runtime.js';

/** The folder beside the copy's node that holds the libraries it loads from outside the system (RuntimeLibraries). */
export const LIB_DIR = 'lib';

/**
 * What the installed node runs to check itself (node -e SCRIPT ALLOWED…): every image it loaded
 * (Node's diagnostic report, as NativeProbes.loadedLibraries reads it) is under one of the
 * folders given, else it names the others and exits 1.
 */
const SELF_CHECK =
  "const ok=process.argv.slice(1);const out=(process.report.getReport().sharedObjects||[]).filter((p)=>p.startsWith('/')&&!ok.some((d)=>p.startsWith(d)));if(out.length>0){console.error('it loads '+out.join(', ')+' from outside its folder');process.exit(1)}";

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
  /** Where RUNTIME_DIR is on this machine (under a --files-root, with its links followed inside it): the check runs the copy there. */
  dir: string;
}

export async function observeRuntimeCopy(ctx: Context, id: string | null): Promise<RuntimeCopyObserved> {
  const versions: Record<string, string[]> = {};
  const others: string[] = [];
  for (const name of await ctx.fs.list(RUNTIME_DIR)) {
    if (name === 'current') continue;
    if (!VERSION_DIR.test(name)) {
      others.push(name);
      continue;
    }
    // A copy's lib/ folder (the libraries a Homebrew node loads, on macOS) is listed file by file, then the folder.
    const files: string[] = [];
    for (const f of await ctx.fs.list(`${RUNTIME_DIR}/${name}`)) {
      if (f === LIB_DIR) files.push(...(await ctx.fs.list(`${RUNTIME_DIR}/${name}/${LIB_DIR}`)).map((l) => `${LIB_DIR}/${l}`));
      files.push(f);
    }
    versions[name] = files;
  }
  return {
    versions,
    current: await ctx.fs.readLink(RUNTIME_CURRENT),
    manifest: id === null ? null : await ctx.fs.read(`${RUNTIME_DIR}/${id}/runtime.json`),
    others,
    dir: await ctx.fs.real(RUNTIME_DIR),
  };
}

/**
 * Converges RUNTIME_DIR to one complete copy of `source` with `current` pointing at it (null:
 * nothing installed, for `down` or a setup no unit runs node for). The copy is written into its
 * own version folder (runtime.json last, so a half copy is never taken for a whole one), each file
 * exactly the bytes the version's digest was made from; the copied node is then run
 * (`node --version` must print the source's version) before `current` flips in one rename, so a
 * unit never starts something that is not a working node; then older versions go. Pure; planning
 * again returns no steps.
 */
export function planRuntimeCopy(source: RuntimeSource | null, obs: RuntimeCopyObserved, libs: RuntimeLibraries | null = null): Plan {
  const plan = emptyPlan();
  const keep = source?.id ?? null;
  if (source && obs.manifest !== source.manifest) {
    const dir = `${RUNTIME_DIR}/${source.id}`;
    const sha256 = source.digests;
    plan.steps.push({ kind: 'copy', from: source.node, path: `${dir}/node`, mode: 0o755, sha256, why: `install the node boot units run (${source.id})` });
    if (libs) {
      for (const lib of libs.libs)
        for (const name of lib.names)
          plan.steps.push({
            kind: 'copy',
            from: lib.from,
            path: `${dir}/${LIB_DIR}/${name}`,
            mode: 0o644,
            why: `install ${name}, which the node boot units run loads`,
          });
      // Before runtime.json marks the copy complete: a copy that would still load a library from
      // outside it (one a package manager may remove) fails here, and the setup is rolled back.
      plan.steps.push({
        kind: 'run',
        argv: ['/usr/bin/env', `${libs.libraryPathVar}=${dir}/${LIB_DIR}`, `${dir}/node`, '-e', SELF_CHECK, `${dir}/`, ...libs.system],
        why: `check that the installed node (${source.id}) loads only its own libraries and the system's`,
      });
    }
    plan.steps.push({
      kind: 'copy',
      from: source.dir,
      path: dir,
      files: source.files,
      mode: 0o644,
      sha256,
      why: `install hostalias ${source.id} for boot units`,
    });
  }
  if (source && (obs.current !== source.id || obs.manifest !== source.manifest)) {
    plan.steps.push(verifyNodeStep(source, obs.dir));
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
 * The check between the copy and the flip of `current`: the copied node runs and is the version
 * copied. A separate step so that other checks of the copy (a platform's own) can sit beside it.
 */
function verifyNodeStep(source: RuntimeSource, dir: string): Step {
  const node = `${dir}/${source.id}/node`;
  return {
    kind: 'run',
    argv: [node, '--version'],
    expect: `^${source.nodeVersion.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
    why: `check that the copied node runs (${source.nodeVersion})`,
  };
}

/**
 * The installed copy of node + hostalias that units start. Only relays and the resolver run node
 * at boot (`forward --install`, `expose` via relay, `expose --all`'s loopback relay and `up --dns`: systemd units on Linux,
 * LaunchDaemons on macOS; the alias and firewall units run ip, nft, ifconfig, pfctl), so the copy
 * exists while one of them is installed; without one an old copy is removed.
 */
export const runtimeCopyPart: Part = {
  id: 'runtime',
  async plan(ctx, { desired }) {
    const source = desired && (managedForwards(desired).length > 0 || desired.dns || desired.exposeAll) ? await locateRuntimeSource() : null;
    const obs = await observeRuntimeCopy(ctx, source?.id ?? null);
    const libs = source && obs.manifest !== source.manifest && ctx.backend.runtimeLibraries ? await ctx.backend.runtimeLibraries(ctx, source.node) : null;
    return planRuntimeCopy(source, obs, libs);
  },
};
