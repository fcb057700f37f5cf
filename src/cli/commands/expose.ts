import type { Command } from 'commander';
import type { FirewallChoice } from '../../model/config.js';
import { expose, unexpose } from '../../engine/expose.js';
import { refreshFirewall } from '../../engine/refresh.js';
import { describeExpose, EXPOSE_EXAMPLE, EXPOSE_VIA_CHOICES, FIREWALL_CHOICES, parseExpose, parseExposeTo, type ExposeViaChoice } from '../../model/expose.js';
import { parsePortProto } from '../../model/ports.js';
import { describeTargets } from '../../forward/spec.js';
import { loopbackTargets } from '../../forward/targets.js';
import { usageError } from '../../model/errors.js';
import { addCommonOptions, checked, checkedEach, commandArgs, type CliIO, type CommonOptions } from '../io.js';
import { contextFrom } from '../context-from.js';
import { printChange } from '../render-change.js';
import { refuseLinuxOnly } from '../linux-only.js';

interface ExposeFlags extends CommonOptions {
  to?: string;
  keepSource?: boolean;
  firewall?: FirewallChoice;
  via: ExposeViaChoice;
}

export function registerExposeCommands(program: Command, io: CliIO): void {
  addCommonOptions(program.command('expose'), true)
    .argument(
      '<ports...>',
      'PORT, PORT/tcp or PORT/udp; several at once: expose 5432 6379 5173 (one plan, all or nothing)',
      checkedEach((p) => parsePortProto(p, EXPOSE_EXAMPLE)),
    )
    .description(
      'let containers and the host reach loopback-only services at ALIAS:PORT: kernel DNAT to 127.0.0.1, or a managed relay when the service listens on ::1 only (or not yet)',
    )
    .option('--to <port>', 'the port on the loopback (default: the same port; only with one PORT)', checked(parseExposeTo))
    .option('--keep-source', "let the service see the container's address instead of 127.0.0.1 (kernel rules only)")
    .addOption(
      program
        .createOption(
          '--via <how>',
          'auto: kernel rules when something listens on 127.0.0.1 (or 0.0.0.0/::), else a relay to 127.0.0.1 or ::1; kernel or relay forces one',
        )
        .choices([...EXPOSE_VIA_CHOICES])
        .default('auto'),
    )
    .addOption(program.createOption('--firewall <kind>', 'packet filter to use').choices([...FIREWALL_CHOICES]))
    .action(async (portArgs: string[], flags: ExposeFlags) => {
      if (flags.to !== undefined && portArgs.length > 1)
        throw usageError(
          `--to applies to one port, but ${portArgs.length} were given`,
          `expose them one by one: hostalias expose ${portArgs[0] ?? 'PORT'} --to ${flags.to}`,
        );
      const specs = portArgs.map((p) => parseExpose(p, { ...(flags.to !== undefined ? { to: flags.to } : {}), keepSource: flags.keepSource === true }));
      const ctx = contextFrom(flags);
      refuseLinuxOnly(ctx, { '--firewall': flags.firewall });
      const res = await expose(ctx, specs, {
        dryRun: flags.dryRun,
        args: commandArgs(),
        via: flags.via,
        ...(flags.firewall ? { firewall: flags.firewall } : {}),
      });
      const ip = res.state?.desired.ip;
      const lines = specs.map((s, i) => {
        const { via, reason } = res.decisions[i] ?? { via: 'kernel', reason: '' };
        // On macOS pf keeps the source, and Desktop/OrbStack/Lima connect from the Mac to the alias.
        const kernelSource =
          ctx.backend.platform === 'darwin'
            ? `the service sees ${ip}, the address Docker Desktop, OrbStack and Lima connect from`
            : s.keepSource
              ? 'the service sees their address'
              : 'the service sees 127.0.0.1';
        const relay = ctx.backend.forwardService(s);
        const target = via === 'relay' ? describeTargets(loopbackTargets(s.to)) : `127.0.0.1:${s.to}`;
        const how = via === 'relay' ? `through the relay ${relay.name}` : ctx.backend.platform === 'darwin' ? 'through a pf redirect' : 'through kernel rules';
        const sees = via === 'relay' ? `the service sees 127.0.0.1 or ::1; relay logs: ${relay.logs}` : kernelSource;
        return {
          already: `already exposed: ${ip}:${describeExpose(s)} → ${target} ${how} (${reason})`,
          done: `Containers and the host reach ${target} as ${ip}:${describeExpose(s)} ${how}: ${reason} (${sees}).`,
        };
      });
      printChange(io, ctx, 'expose', res, {
        json: flags.json,
        already: lines.map((l) => l.already).join('\n'),
        done: lines.map((l) => l.done),
        extra: { decisions: specs.map((s, i) => ({ port: s.port, proto: s.proto, via: res.decisions[i]?.via, reason: res.decisions[i]?.reason })) },
      });
    });

  addCommonOptions(program.command('unexpose'), true)
    .argument(
      '<ports...>',
      'PORT, PORT/tcp or PORT/udp; several at once',
      checkedEach((p) => parsePortProto(p, EXPOSE_EXAMPLE)),
    )
    .description('remove exposed ports (one plan); not exposed is success')
    .action(async (portArgs: string[], flags: CommonOptions) => {
      const ports = portArgs.map((p) => parsePortProto(p, EXPOSE_EXAMPLE));
      const ctx = contextFrom(flags);
      const res = await unexpose(ctx, ports, { dryRun: flags.dryRun, args: commandArgs() });
      printChange(io, ctx, 'unexpose', res, {
        json: flags.json,
        already: `${ports.map((p) => `${p.port}/${p.proto}`).join(', ')} ${ports.length > 1 ? 'are' : 'is'} not exposed`,
      });
    });

  addCommonOptions(program.command('refresh'), true)
    .description('re-plan the firewall rules now (re-sorts the bridges into container networks and LAN bridges); never needed for new container networks')
    .action(async (flags: CommonOptions) => {
      const ctx = contextFrom(flags);
      const res = await refreshFirewall(ctx, { dryRun: flags.dryRun });
      printChange(io, ctx, 'refresh', res, { json: flags.json, already: 'firewall rules already up to date' });
    });
}
