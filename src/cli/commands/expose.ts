import type { Command } from 'commander';
import type { FirewallChoice } from '../../model/config.js';
import { expose, exposeAll, unexpose, unexposeAll, type ExposeAllResult } from '../../engine/expose.js';
import { refreshFirewall } from '../../engine/refresh.js';
import {
  describeExpose,
  EXPOSE_EXAMPLE,
  EXPOSE_VIA_CHOICES,
  FIREWALL_CHOICES,
  keptOut,
  keptOutWhy,
  parseExceptPorts,
  parseExpose,
  parseExposeTo,
  type ExposeViaChoice,
} from '../../model/expose.js';
import { EXPOSE_ALL_KEPT_OUT } from '../../model/config.js';
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
  all?: boolean;
  except: string[];
}

/** What `expose --all` reaches now and what it keeps out, for the person who ran it. */
function allLines(res: ExposeAllResult, ip: string): string[] {
  const r = res.report;
  const desired = res.state?.desired;
  const kept = desired ? keptOut(desired).map((p) => `${p} (${keptOutWhy(desired, p)})`) : EXPOSE_ALL_KEPT_OUT.map((k) => `${k.port} (${k.why})`);
  const v6 = res.loopbackRelay
    ? 'A TCP service on ::1 only goes through the loopback relay (hostalias-serve.service: one process for every such port, reachable within a second of its listen()); a UDP service on ::1 only is not reached: relay it with hostalias expose PORT/udp.'
    : 'A service on ::1 only is not reached this way (no service manager runs the loopback relay here): expose its port one by one (hostalias expose PORT), which relays it.';
  const lines = [
    `Containers and the host reach every port of the loopback at ${ip}:PORT, TCP and UDP, also for services started later, through kernel rules to 127.0.0.1 (services on 127.0.0.1 or 0.0.0.0/::). ${v6}`,
    `kept out: ${kept.join(', ')}`,
  ];
  if (!r) return [...lines, 'listening now: not read (an image build, or this platform)'];
  const listed = [
    ...r.kernel.map((k) => `  ${k.proto} ${k.port} on ${k.on.includes(':') ? `[${k.on}]` : k.on}: kernel rules`),
    ...r.relayed.map((p) => `  tcp ${p} on [::1] only: the loopback relay`),
    ...r.unreached.map(
      (u) =>
        `  ${u.proto} ${u.port} on [::1] only: not reached (the rules go to 127.0.0.1${u.proto === 'tcp' ? ' and no loopback relay runs here' : ''}); relay it: hostalias expose ${u.proto === 'udp' ? `${u.port}/udp` : u.port}`,
    ),
    ...r.keptOut.map((k) => `  ${k.proto} ${k.port}: kept out (${k.why})`),
  ];
  return [...lines, listed.length > 0 ? 'listening now:' : 'listening now: nothing on the loopback', ...listed];
}

export function registerExposeCommands(program: Command, io: CliIO): void {
  addCommonOptions(program.command('expose'), true)
    .argument(
      '[ports...]',
      'PORT, PORT/tcp or PORT/udp; several at once: expose 5432 6379 5173 (one plan, all or nothing)',
      checkedEach((p) => parsePortProto(p, EXPOSE_EXAMPLE)),
    )
    .option('--all', 'every TCP and UDP port of the loopback, also those of services started later (kept in the state; unexpose --all takes it back)')
    .option(
      '--except <ports>',
      'with --all: ports kept out besides 2375 and 2376 (the Docker/Podman API), e.g. --except 8080,9000; replaces an earlier list',
      checkedEach((v) => parseExceptPorts([v])),
      [] as string[],
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
      if (flags.all) return runExposeAll(io, portArgs, flags);
      if (flags.except.length > 0) throw usageError('--except applies to --all', `hostalias expose --all --except ${flags.except.join(',')}`);
      if (portArgs.length === 0) throw usageError('expose needs ports, or --all', EXPOSE_EXAMPLE);
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
        if (res.covered[i]) {
          const line = `already reachable: ${ip}:${describeExpose(s)} through expose --all (nothing changed for it)`;
          return { already: line, done: line };
        }
        return {
          already: `already exposed: ${ip}:${describeExpose(s)} → ${target} ${how} (${reason})`,
          done: `Containers and the host reach ${target} as ${ip}:${describeExpose(s)} ${how}: ${reason} (${sees}).`,
        };
      });
      printChange(io, ctx, 'expose', res, {
        json: flags.json,
        already: lines.map((l) => l.already).join('\n'),
        done: lines.map((l) => l.done),
        extra: {
          decisions: specs.map((s, i) => ({
            port: s.port,
            proto: s.proto,
            via: res.decisions[i]?.via,
            reason: res.decisions[i]?.reason,
            ...(res.covered[i] ? { coveredByAll: true } : {}),
          })),
        },
      });
    });

  addCommonOptions(program.command('unexpose'), true)
    .argument(
      '[ports...]',
      'PORT, PORT/tcp or PORT/udp; several at once',
      checkedEach((p) => parsePortProto(p, EXPOSE_EXAMPLE)),
    )
    .option('--all', 'take back `expose --all` (ports exposed one by one stay)')
    .description('remove exposed ports (one plan); not exposed is success')
    .action(async (portArgs: string[], flags: CommonOptions & { all?: boolean }) => {
      if (flags.all) {
        if (portArgs.length > 0) throw usageError('unexpose --all takes no ports', `hostalias unexpose --all, then hostalias unexpose ${portArgs.join(' ')}`);
        const ctx = contextFrom(flags);
        const res = await unexposeAll(ctx, { dryRun: flags.dryRun, args: commandArgs() });
        printChange(io, ctx, 'unexpose', res, { json: flags.json, already: 'expose --all is not on' });
        return;
      }
      if (portArgs.length === 0) throw usageError('unexpose needs ports, or --all', 'hostalias unexpose 5432 (or --all)');
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

async function runExposeAll(io: CliIO, portArgs: readonly string[], flags: ExposeFlags): Promise<void> {
  if (portArgs.length > 0) throw usageError('--all takes no ports', `hostalias expose --all, or hostalias expose ${portArgs.join(' ')}`);
  if (flags.to !== undefined || flags.keepSource || flags.via !== 'auto')
    throw usageError('--to, --keep-source and --via apply to ports exposed one by one, not to --all', 'hostalias expose --all');
  const except = parseExceptPorts(flags.except);
  const ctx = contextFrom(flags);
  refuseLinuxOnly(ctx, { '--firewall': flags.firewall });
  const res = await exposeAll(ctx, except, { dryRun: flags.dryRun, args: commandArgs(), ...(flags.firewall ? { firewall: flags.firewall } : {}) });
  const ip = res.state?.desired.ip ?? '';
  const lines = allLines(res, ip);
  printChange(io, ctx, 'expose', res, {
    json: flags.json,
    already: `expose --all is on already${except.length > 0 ? ` (kept out: --except ${except.join(',')})` : ''}`,
    extra: { all: { except, report: res.report } },
  });
  if (!flags.json) for (const l of lines) io.out(l);
}
