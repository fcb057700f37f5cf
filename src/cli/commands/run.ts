import type { Command } from 'commander';
import { buildRunArgv } from '../../docker/run-argv.js';
import { execDocker } from '../../docker/exec-docker.js';
import { chooseEngine, installedEngines, type EngineCli } from '../../docker/engine.js';
import { loadHostTarget } from '../../engine/inputs.js';
import { keepRunCache, observeRunCache, takeRunCacheRequest } from '../../docker/run-cache.js';
import { HostaliasError, usageError } from '../../model/errors.js';
import { shellQuote } from '../../model/shell.js';
import type { CliIO } from '../io.js';
import { contextFrom } from '../context-from.js';

interface RunFlags {
  root?: string;
  filesRoot?: string;
  dryRun?: boolean;
  engine?: EngineCli;
}

/**
 * `hostalias run ARGS…` = `docker run <--add-host flags> ARGS…`. hostalias's own options must
 * come first: the first option it doesn't know starts docker's arguments (passThroughOptions).
 * Only long options, and no -h: `docker run -h` is --hostname.
 */
export function registerRunCommand(program: Command, io: CliIO): void {
  program
    .command('run')
    .description('docker run (or podman run) with --add-host flags for the alias names; stdio, exit status and signals pass through')
    .usage('[--root DIR | --files-root DIR] [--dry-run] [--engine docker|podman] [DOCKER RUN OPTIONS] IMAGE [COMMAND] [ARG...]')
    .helpOption('--help', 'show help for hostalias run')
    .option('--root <dir>', 'read the recorded names under DIR')
    .option('--files-root <dir>', 'the same (the state lives under DIR)')
    .option('--dry-run', 'print the docker command instead of running it')
    .addOption(
      program
        .createOption(
          '--engine <cli>',
          'docker or podman (default: the only one installed, podman when CONTAINER_HOST or a Podman DOCKER_HOST says so, else docker)',
        )
        .choices(['docker', 'podman']),
    )
    .argument('[docker-args...]', 'what docker run takes')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (args: string[], flags: RunFlags) => {
      const observedSince = Date.now();
      const cacheRequest = takeRunCacheRequest(process.env);
      const userArgs = args[0] === '--' ? args.slice(1) : args;
      if (userArgs.length === 0) throw usageError('hostalias run needs docker run arguments (at least an image)', 'hostalias run --rm -it IMAGE sh');
      const ctx = contextFrom(flags);
      const { target, warning, note, engineBasis } = await loadHostTarget(ctx);
      if (warning) io.err(`warning: ${warning}`);
      if (note) io.err(`note: ${note}`);
      const built = buildRunArgv(target, userArgs);
      const engine = chooseEngine(flags.engine, await installedEngines(ctx.env), ctx.env);
      if (!engine && flags.dryRun) {
        io.out(shellQuote([flags.engine ?? 'docker', ...built.args]));
        return;
      }
      if (!engine) {
        const which = flags.engine ?? 'docker or podman';
        throw new HostaliasError(
          'unsupported',
          `${which} is not installed (no ${which} on PATH)`,
          flags.engine === 'podman'
            ? 'sudo apt-get install podman'
            : 'install Docker (Debian: sudo apt-get install docker.io) or Podman (sudo apt-get install podman)',
        );
      }
      if (flags.dryRun) {
        io.out(shellQuote([engine.cli, ...built.args]));
        return;
      }
      if (cacheRequest) {
        // The launcher asks only for a plain `run ARGS…`; what it skipped is checked again here.
        const plain = args[0] !== '--' && !flags.root && !flags.filesRoot && !flags.engine && !userArgs.some((a) => a.includes('--add-host'));
        const answer = {
          key: cacheRequest.key,
          target,
          engineBasis,
          cli: engine.cli,
          notes: note ? [`note: ${note}`] : [],
          args: built.args.slice(0, built.args.length - userArgs.length),
        };
        await keepRunCache(cacheRequest.path, plain && !warning ? await observeRunCache(ctx, answer).catch(() => null) : null, observedSince);
      }
      io.exitCode = await execDocker(built.args, engine.cli);
    });
}
