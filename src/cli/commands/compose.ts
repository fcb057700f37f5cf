import type { Command } from 'commander';
import { displayPath } from '../../docker/compose-files.js';
import { composeOutput, planCompose, type ComposeRequest } from '../../docker/compose-change.js';
import { loadHostTarget } from '../../engine/inputs.js';
import { convergeUserFiles } from '../../engine/user-files.js';
import { SystemFs } from '../../fs/system-fs.js';
import { renderPlan } from '../../model/steps.js';
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
 * names in extra_hosts. Compose files are the user's, in the current folder: the change is planned
 * and applied by the engine's convergeUserFiles (journal, rollback, a lock next to the file), with
 * absolute paths and no root; --root only locates the state that names the alias.
 */
export function registerComposeCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('compose'), true)
    .description('write compose.hostalias.yaml adding extra_hosts for the alias names to every service (or edit the file with --in-place)')
    .option(
      '-f, --file <path>',
      'compose file, repeatable (default: the files COMPOSE_FILE names, else compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml here)',
      collect,
      [],
    )
    .option('-o, --output <path>', 'the override file to write (default: compose.hostalias.yaml next to the first file)')
    .option('--in-place', 'edit the compose file itself, keeping comments; the original is kept as FILE.hostalias.bak')
    .action(async (flags: ComposeFlags) => {
      const cwd = process.cwd();
      const { target, warning, note } = await loadHostTarget(contextFrom(flags));
      if (warning) io.err(`warning: ${warning}`);
      if (note) io.err(`note: ${note}`);
      const req: ComposeRequest = { cwd, files: flags.file, output: flags.output, inPlace: flags.inPlace, env: process.env };
      const out = await composeOutput(new SystemFs('/'), req);
      const { change, applied } = await convergeUserFiles(out, (fs) => planCompose(fs, req, target), {
        label: 'compose',
        dryRun: flags.dryRun,
        env: process.env,
      });
      const { plan, compose, usage } = change;
      const changed = plan.steps.length > 0;
      if (change.skippedOutput) io.err(`note: not reading ${change.skippedOutput}: it is the output`);
      if (flags.json) {
        io.out(
          JSON.stringify(
            {
              output: change.out,
              inPlace: flags.inPlace === true,
              changed,
              written: applied !== null && changed,
              content: compose.content,
              services: compose.services,
              notes: plan.notes.map((n) => n.text),
              structuredNotes: plan.notes,
              usage,
              steps: plan.steps,
            },
            null,
            2,
          ),
        );
        return;
      }
      for (const n of plan.notes) io.out(`note: ${n.text}`);
      const shown = displayPath(change.out, cwd);
      if (compose.content === null) {
        io.out('✓ nothing to add: every service already maps the names or is skipped; no file written');
        return;
      }
      if (applied === null) {
        io.out(
          changed ? `Would write (dry run: nothing was written):\n${renderPlan(plan, { rooted: false, root: '/' })}` : `Nothing to do: ${shown} is up to date`,
        );
        return;
      }
      const added = compose.services.filter((s) => s.action === 'add').map((s) => s.service);
      io.out(
        changed ? `✓ ${flags.inPlace ? 'edited' : 'wrote'} ${shown}: extra_hosts for ${added.join(', ')} → ${target.ip}` : `✓ ${shown} is already up to date`,
      );
      const backup = plan.steps.length > 1 ? plan.steps[0] : undefined;
      if (backup?.kind === 'write') io.out(`  the original is kept as ${displayPath(backup.path, cwd)}`);
      io.out('Use it with:');
      for (const u of usage) io.out(`  ${u}`);
    });
}
