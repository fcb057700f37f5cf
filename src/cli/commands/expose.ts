import { Option, type Command } from 'commander';
import type { Desired, FirewallChoice } from '../../model/config.js';
import { expose, unexpose } from '../../engine/expose.js';
import { refreshFirewall, watchDockerNetworks } from '../../engine/refresh.js';
import { describeExpose, FIREWALL_CHOICES, parseExpose, parseIfaceName, parsePortProto } from '../../model/expose.js';
import { usageError } from '../../model/errors.js';
import { addCommonOptions, commandLine, contextFrom, type CliIO, type CommonOptions } from '../io.js';
import { printChange } from '../render-change.js';
import type { UpFlagExtension } from './alias.js';

/** `up --lan-guard/--no-lan-guard`, `--allow-iface IFACE` (repeatable), `--firewall KIND` (issue 4). */
export const firewallUpFlags: UpFlagExtension = {
  add(cmd) {
    cmd
      .option('--lan-guard', 'answer on the alias only for lo and container bridges (default)')
      .option('--no-lan-guard', 'let any interface reach the alias (a LAN host routing to it reaches its services)')
      .option('--allow-iface <iface>', 'also trust this interface like a container bridge (repeatable; replaces the stored list)', (v: string, prev: string[] | undefined) => [...(prev ?? []), parseIfaceName(v)])
      .addOption(new Option('--firewall <kind>', 'packet filter for the guard and exposed ports').choices([...FIREWALL_CHOICES]));
  },
  changes(flags) {
    return {
      lanGuard: typeof flags['lanGuard'] === 'boolean' ? flags['lanGuard'] : undefined,
      allowIfaces: Array.isArray(flags['allowIface']) ? (flags['allowIface'] as string[]) : undefined,
      firewall: flags['firewall'] as FirewallChoice | undefined,
    } as Partial<Desired>;
  },
};

interface ExposeFlags extends CommonOptions {
  to?: string;
  keepSource?: boolean;
  firewall?: FirewallChoice;
}

export function registerExposeCommands(program: Command, io: CliIO): void {
  addCommonOptions(program.command('expose'), true)
    .argument('<port>', 'PORT, PORT/tcp or PORT/udp')
    .description('let containers reach a 127.0.0.1-only service: ALIAS:PORT is DNATed to 127.0.0.1:PORT (kernel rules, Linux)')
    .option('--to <port>', 'the port on 127.0.0.1 (default: the same port)')
    .option('--keep-source', "let the service see the container's address instead of 127.0.0.1")
    .addOption(new Option('--firewall <kind>', 'packet filter to use').choices([...FIREWALL_CHOICES]))
    .action(async (portArg: string, flags: ExposeFlags) => {
      const spec = parseExpose(portArg, { ...(flags.to !== undefined ? { to: flags.to } : {}), keepSource: flags.keepSource === true });
      const ctx = contextFrom(flags);
      const res = await expose(ctx, spec, { dryRun: flags.dryRun, commandLine: commandLine(), ...(flags.firewall ? { firewall: flags.firewall } : {}) });
      const ip = res.state?.desired.ip;
      printChange(io, ctx, 'expose', res, {
        json: flags.json,
        already: `already exposed: ${ip}:${describeExpose(spec)} → 127.0.0.1:${spec.to}`,
        done: [`Containers reach 127.0.0.1:${spec.to} as ${ip}:${spec.port}/${spec.proto}${spec.keepSource ? ' (the service sees their address)' : ' (the service sees 127.0.0.1)'}.`],
      });
    });

  addCommonOptions(program.command('unexpose'), true)
    .argument('<port>', 'PORT, PORT/tcp or PORT/udp')
    .description('remove an exposed port; not exposed is success')
    .action(async (portArg: string, flags: CommonOptions) => {
      const { port, proto } = parsePortProto(portArg);
      const ctx = contextFrom(flags);
      const res = await unexpose(ctx, port, proto, { dryRun: flags.dryRun, commandLine: commandLine() });
      printChange(io, ctx, 'unexpose', res, { json: flags.json, already: `${port}/${proto} is not exposed` });
    });

  addCommonOptions(program.command('refresh'), true)
    .description("re-read Docker's bridge networks into the firewall rules (new compose networks); --watch keeps following them")
    .option('--watch', 'refresh now and after every Docker network create/destroy, until stopped (what hostalias-bridges.service runs)')
    .action(async (flags: CommonOptions & { watch?: boolean }) => {
      const ctx = contextFrom(flags);
      if (!flags.watch) {
        const res = await refreshFirewall(ctx, { dryRun: flags.dryRun });
        printChange(io, ctx, 'refresh', res, { json: flags.json, already: 'firewall rules already match the Docker networks' });
        return;
      }
      if (flags.dryRun) throw usageError('--watch changes the system as Docker changes; it has no --dry-run', 'hostalias refresh --dry-run');
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop).once('SIGTERM', stop);
      try {
        await watchDockerNetworks(ctx, (r) => {
          if (r instanceof Error) io.err(`hostalias: refresh failed: ${r.message}`);
          else if (r.plan.steps.length > 0) for (const s of r.plan.steps) io.out(`✓ ${s.why}`);
        }, abort.signal);
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
      }
    });
}
