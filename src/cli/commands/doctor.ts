import type { Command } from 'commander';
import { chooseEngine, describeReach, installedEngines, probePodman, type EngineCli } from '../../docker/engine.js';
import { runChecks } from '../../doctor/run-checks.js';
import { doctorInput } from '../../engine/inputs.js';
import { removeProbeContainer, runProbe } from '../../doctor/probe.js';
import { renderJson, renderReport, useColor } from '../../doctor/render.js';
import { EXIT_CODES } from '../../model/errors.js';
import { parsePort } from '../../model/ports.js';
import { addCommonOptions, checkedEach, type CliIO, type CommonOptions } from '../io.js';
import { contextFrom } from '../context-from.js';

interface DoctorFlags extends CommonOptions {
  probe?: boolean | string[];
  image?: string;
  network?: string;
  engine?: EngineCli;
}

/** `--probe 5432 8080` or `--probe 5432,8080`. */
function parsePorts(values: string[]): number[] {
  return values
    .flatMap((v) => v.split(','))
    .filter((v) => v !== '')
    .map((v) => parsePort(v, '--probe port', 'give TCP ports between 1 and 65535, e.g. --probe 5432 8080'));
}

/** `hostalias doctor`: read-only diagnosis; exit 0 when nothing fails, 1 otherwise. */
export function registerDoctorCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('doctor'), false)
    .description("find why a container can't reach this host and print the exact fix (read-only; exit 1 when a check fails)")
    .option(
      '--probe [ports...]',
      'also start a short-lived container that resolves every name and connects to each PORT (default: the reachable TCP listeners)',
      checkedEach((v) => parsePorts([v])),
    )
    .option('--image <image>', 'image for --probe (default: a local busybox or alpine image)')
    .option('--network <name>', "start the --probe container on this network (a compose project's, say)")
    .addOption(program.createOption('--engine <cli>', 'docker or podman for --probe (default: as `hostalias run` picks)').choices(['docker', 'podman']))
    .action(async (flags: DoctorFlags) => {
      const ctx = contextFrom(flags);
      const ports = Array.isArray(flags.probe) ? parsePorts(flags.probe) : [];
      const input = await doctorInput(ctx);
      const findings = await runChecks(input);
      const engine = chooseEngine(flags.engine, await installedEngines(ctx.env), ctx.env);
      if (engine?.cli === 'podman') {
        const pm = await probePodman(ctx.runner);
        findings.push(
          pm
            ? {
                id: 'podman',
                status: 'ok',
                message: `Podman ${pm.version} (${engine.reason}), ${pm.rootless ? `rootless, ${pm.rootlessNetwork || 'slirp4netns'}` : `rootful, ${pm.networkBackend || 'cni'} networks`}: ${describeReach({ rootless: pm.rootless, cli: 'podman', rootlessNetwork: pm.rootlessNetwork })}`,
              }
            : { id: 'podman', status: 'fail', message: `podman does not answer (${engine.reason})`, fix: 'podman info  # shows why' },
        );
      }
      if (flags.probe !== undefined) {
        let container: string | null = null;
        // Ctrl-C must not leave the probe container behind: remove it, then exit as interrupted.
        const onSigint = () => {
          const done = container ? removeProbeContainer(ctx.runner, container, engine?.cli ?? 'docker') : Promise.resolve();
          void done.finally(() => process.exit(130));
        };
        process.once('SIGINT', onSigint);
        try {
          findings.push(
            ...(await runProbe(input, {
              ports,
              image: flags.image,
              engine: engine?.cli ?? 'docker',
              ...(flags.network ? { network: flags.network } : {}),
              progress: (l) => io.err(l),
              onContainer: (n) => (container = n),
            })),
          );
        } catch (err) {
          findings.push({
            id: 'probe',
            status: 'fail',
            message: `the probe crashed: ${err instanceof Error ? err.message : String(err)}`,
            fix: input.hostalias(['doctor', '--probe', '--image', 'busybox:stable'], 'user'),
          });
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
      }
      if (flags.json) io.out(renderJson(findings));
      else {
        const d = input.desired;
        const title = `hostalias doctor: ${d.ip} for ${d.names.join(', ')}${input.state ? '' : ' (not set up yet)'}`;
        io.out(renderReport(findings, { color: useColor(process.stdout.isTTY === true, ctx.env), title }));
      }
      io.exitCode = findings.some((f) => f.status === 'fail') ? EXIT_CODES.failed : EXIT_CODES.ok;
    });
}
