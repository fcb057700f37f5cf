import type { Command } from 'commander';
import { backupPath, displayPath, fileMode, loadComposeSources, outputPath } from '../../docker/compose-files.js';
import { planInPlace, planOverride, type ComposePlan } from '../../docker/compose-plan.js';
import { loadHostTarget } from '../../docker/target.js';
import { usageError } from '../../model/errors.js';
import { isManaged } from '../../model/managed.js';
import { basename } from 'node:path';
import { SystemFs } from '../../fs/system-fs.js';
import { renderStep } from '../../model/steps.js';
import { addCommonOptions, type CliIO, type CommonOptions } from '../io.js';
import { contextFrom } from '../context-from.js';

interface ComposeFlags extends CommonOptions {
  file: string[];
  output?: string;
  inPlace?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `hostalias compose`: an override file (or an in-place edit) giving every service the alias
 * names in extra_hosts. Compose files are the user's, in the current folder: they are read and
 * written with a SystemFs rooted at '/' and absolute paths; --root only locates the state.
 */
export function registerComposeCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('compose'), true)
    .description('write compose.hostalias.yaml adding extra_hosts for the alias names to every service (or edit the file with --in-place)')
    .option('-f, --file <path>', 'compose file, repeatable (default: the files COMPOSE_FILE names, else compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here)', collect, [])
    .option('-o, --output <path>', 'the override file to write (default: compose.hostalias.yaml next to the first file)')
    .option('--in-place', 'edit the compose file itself, keeping comments; the original is kept as FILE.hostalias.bak')
    .action(async (flags: ComposeFlags) => {
      const cwd = process.cwd();
      const files = new SystemFs('/');
      const { target, warning, note } = await loadHostTarget(contextFrom(flags));
      if (warning) io.err(`warning: ${warning}`);
      if (note) io.err(`note: ${note}`);
      const sources = await loadComposeSources(files, cwd, flags.file, process.env);
      const first = sources[0];
      if (!first) throw usageError('no compose file given');
      let plan: ComposePlan;
      let out: string;
      let usage: string[];
      if (flags.inPlace) {
        if (sources.length > 1 || flags.output) throw usageError('--in-place edits exactly one compose file and takes no -o', `hostalias compose --in-place -f ${first.path}`);
        out = first.abs;
        usage = [`docker compose -f ${first.path} up`];
        plan = planInPlace(first, target);
      } else {
        out = outputPath(cwd, first, flags.output);
        const inputs = sources.filter((s) => s.abs !== out);
        if (inputs.length < sources.length) io.err(`note: not reading ${displayPath(out, cwd)}: it is the output`);
        const existing = await files.read(out);
        if (existing !== null && !isManaged(existing)) {
          throw usageError(`${displayPath(out, cwd)} exists and was not written by hostalias; nothing was written`, `pass another file with -o, or remove ${displayPath(out, cwd)}`);
        }
        const fileArgs = [...inputs.map((s) => s.path), displayPath(out, cwd)].map((p) => `-f ${p}`).join(' ');
        usage = [`docker compose ${fileArgs} up`, `docker-compose ${fileArgs} up    (Compose v1)`];
        plan = planOverride(inputs, target, usage, basename(out));
      }
      const before = await files.read(out);
      const changed = plan.content !== null && plan.content !== before;
      const mode = flags.inPlace ? await fileMode(out) : 0o644;
      if (flags.json) {
        io.out(JSON.stringify({ output: out, inPlace: flags.inPlace === true, changed, written: changed && !flags.dryRun, content: plan.content, services: plan.services, notes: plan.notes, usage }, null, 2));
      }
      if (changed && !flags.dryRun) {
        if (flags.inPlace && before !== null) await files.write(backupPath(out), before, mode);
        await files.write(out, plan.content as string, mode);
      }
      if (flags.json) return;
      for (const n of plan.notes) io.out(`note: ${n}`);
      const shown = displayPath(out, cwd);
      if (plan.content === null) {
        io.out('✓ nothing to add: every service already maps the names or is skipped; no file written');
        return;
      }
      if (flags.dryRun) {
        io.out(changed ? `Would write (dry run: nothing was written):\n${renderStep({ kind: 'write', path: out, content: plan.content, mode, before, why: '' }, { rooted: false, root: '/' })}` : `Nothing to do: ${shown} is up to date`);
        return;
      }
      const added = plan.services.filter((s) => s.action === 'add').map((s) => s.service);
      io.out(changed ? `✓ ${flags.inPlace ? 'edited' : 'wrote'} ${shown}: extra_hosts for ${added.join(', ')} → ${target.ip}` : `✓ ${shown} is already up to date`);
      if (changed && flags.inPlace && before !== null) io.out(`  the original is kept as ${displayPath(backupPath(out), cwd)}`);
      io.out('Use it with:');
      for (const u of usage) io.out(`  ${u}`);
    });
}
