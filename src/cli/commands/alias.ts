import type { Command } from 'commander';
import { describeTargets, targetsOf } from '../../forward/spec.js';
import { loopbackTargets } from '../../forward/targets.js';
import { forwardOptionArgs } from '../../forward/service-args.js';
import { DEFAULT_IP, parseAliasIp, parseLabel, parseNames } from '../../model/address.js';
import { PERSIST_KINDS, type Desired, type PersistChoice } from '../../model/config.js';
import { down, status, up } from '../../engine/converge.js';
import { EXIT_CODES } from '../../model/errors.js';
import { refuseLinuxOnly } from '../linux-only.js';
import { addCommonOptions, checked, commandArgs, type CliIO, type CommonOptions } from '../io.js';
import { contextFrom } from '../context-from.js';
import { fixCommand } from '../../model/invocation.js';
import { isRerun } from '../../exec/invocation.js';
import type { Context } from '../../model/context.js';
import { printChange } from '../render-change.js';

interface UpFlags extends CommonOptions {
  ip?: string;
  label?: string;
  names?: string;
  persist?: PersistChoice;
  hostsFile?: boolean;
}

/** Turns `up` flags into changes to the stored configuration; flags not given stay as installed. */
export function upChanges(flags: UpFlags): Partial<Desired> {
  return {
    ip: flags.ip === undefined ? undefined : parseAliasIp(flags.ip),
    label: flags.label === undefined ? undefined : parseLabel(flags.label),
    names: flags.names === undefined ? undefined : parseNames(flags.names),
    persist: flags.persist,
    hostsFile: flags.hostsFile,
  } as Partial<Desired>;
}

/** Extra `up` flags contributed by other features (docker daemon, firewall); see main.ts. */
export type UpFlagExtension = { add(cmd: Command): void; changes(flags: Record<string, unknown>): Partial<Desired> };

/**
 * After `down`: the user's own hostalias folders. Root in a root shell removes its own (not for a
 * system under --root/--files-root, which is not this one); under a `sudo` typed by hand it names
 * the user's; after the CLI's own re-run the user's process removes them itself (main.ts).
 */
async function leaveUserFolders(io: CliIO, ctx: Context, json: boolean): Promise<void> {
  if (!ctx.isRoot || ctx.fs.isRooted || isRerun(ctx.env)) return;
  const { nameUserFolders, removeUserFolders } = await import('../user-folders.js');
  const user = ctx.env['SUDO_USER'];
  if (user) await nameUserFolders(io, user, json);
  else await removeUserFolders(io, ctx.env, json);
}

export function registerAliasCommands(program: Command, io: CliIO, extensions: UpFlagExtension[] = []): void {
  const upCmd = addCommonOptions(program.command('up'), true)
    .description('add the loopback alias (idempotent), persist it across reboots, record the names containers use')
    .option('--ip <addr>', 'the alias address (IPv4, not 127/8)', checked(parseAliasIp))
    .option('--label <label>', 'interface label for the alias (lo:…, at most 15 characters)', checked(parseLabel))
    .option('--names <a,b,c>', 'host names containers use for the host (default local_host,local,host.docker.internal)', checked(parseNames))
    .addOption(program.createOption('--persist <kind>', 'how the alias survives reboots').choices(['auto', ...PERSIST_KINDS]))
    .option('--hosts-file', 'also name the alias in /etc/hosts (marked block)')
    .option('--no-hosts-file', 'remove the /etc/hosts block');
  for (const ext of extensions) ext.add(upCmd);
  upCmd.action(async (flags: UpFlags & Record<string, unknown>) => {
    const ctx = contextFrom(flags);
    refuseLinuxOnly(ctx, { '--label': flags.label, '--firewall': flags['firewall'] });
    let changes = upChanges(flags);
    for (const ext of extensions) changes = { ...changes, ...Object.fromEntries(Object.entries(ext.changes(flags)).filter(([, v]) => v !== undefined)) };
    const res = await up(ctx, changes, { dryRun: flags.dryRun, args: commandArgs() });
    if (flags.verbose && !flags.json && res.persistence) io.out(`persistence decision: ${res.persistence.reason}`);
    const d = res.state?.desired;
    printChange(io, ctx, 'up', res, {
      json: flags.json,
      already: `already up: ${d?.ip}/32 on ${ctx.backend.loopback}${res.state?.persistence ? `, persisted by ${res.state.persistence.kind}` : ''}`,
      done: d
        ? [`Containers reach this host as ${d.names.join(', ')} → ${d.ip}:`, `  hostalias run --rm IMAGE …    or    docker run $(hostalias flags) --rm IMAGE …`]
        : [],
    });
  });

  addCommonOptions(program.command('down'), true)
    .description('remove everything up installed (alias, persistence, hosts block, …); already down is success')
    .action(async (flags: CommonOptions) => {
      const ctx = contextFrom(flags);
      const res = await down(ctx, { dryRun: flags.dryRun, args: commandArgs() });
      printChange(io, ctx, 'down', res, { json: flags.json, already: 'already down: nothing hostalias installed is left' });
      if (!flags.dryRun) await leaveUserFolders(io, ctx, flags.json === true);
    });

  addCommonOptions(program.command('status'), false)
    .description('show the alias and what is installed (no root needed); exit 0 when the alias is present')
    .option('--ip <addr>', 'check this address instead of the configured one', checked(parseAliasIp))
    .action(async (flags: CommonOptions & { ip?: string }) => {
      const ctx = contextFrom(flags);
      const report = await status(ctx, flags.ip ? { ip: parseAliasIp(flags.ip) } : {});
      if (flags.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(
          `alias        ${report.ip}/32 on ${ctx.backend.loopback}: ${report.present ? 'present' : 'absent'}${report.configured ? '' : ' (not configured by hostalias)'}`,
        );
        io.out(`persistence  ${report.persistence ?? 'none'}${report.persistenceReason ? ` (${report.persistenceReason})` : ''}`);
        io.out(`names        ${report.containerNames.join(', ')}${report.hostsFile ? ' (also in /etc/hosts)' : ''}`);
        if (report.namesNote) io.out(`             ${report.namesNote}`);
        if (report.dockerDaemon) io.out(`docker       host-gateway → ${report.ip} (daemon.json)`);
        if (report.configured && report.lanGuard)
          io.out(
            ctx.backend.platform === 'darwin'
              ? 'lan guard    on: pf drops traffic to the alias unless it comes through lo0 (or --allow-iface)'
              : 'lan guard    on: the alias answers only lo and container bridges',
          );
        const dataPath = (port: number, proto: string) => {
          const r = report.relays.find((x) => x.port === port && x.proto === proto);
          return r ? `, data path: ${r.dataPath === 'native' ? 'C' : `JavaScript (${r.why})`}` : '';
        };
        if (report.exposeAll)
          io.out(
            `exposed      every loopback port at ${report.ip}:PORT, TCP and UDP (expose --all: kernel rules to 127.0.0.1; TCP services on ::1 only through the loopback relay of ${ctx.backend.serveService?.name ?? 'hostalias serve'}); kept out: ${report.exposeAll.keptOut.join(', ')}`,
          );
        for (const e of report.exposes) {
          if (e.via === 'relay')
            io.out(
              `exposed      ${report.ip}:${e.port}/${e.proto} → ${describeTargets(loopbackTargets(e.to))} (relay: ${ctx.backend.forwardService(e).name}${dataPath(e.port, e.proto)})`,
            );
          else io.out(`exposed      ${report.ip}:${e.port}/${e.proto} → 127.0.0.1:${e.to} (kernel rules)`);
        }
        for (const f of report.forwards) {
          const options = forwardOptionArgs(f).join(' ');
          io.out(
            `forwarded    ${f.listen ?? report.ip}:${f.port}/${f.proto} → ${describeTargets(targetsOf(f))} (${ctx.backend.forwardService(f).name}${options ? `, ${options}` : ''}${dataPath(f.port, f.proto)})`,
          );
        }
        if (!report.present) io.out(`fix          ${fixCommand(ctx, ['up', ...(report.ip !== DEFAULT_IP ? ['--ip', report.ip] : [])])}`);
      }
      io.exitCode = report.present ? EXIT_CODES.ok : EXIT_CODES['not-present'];
    });
}
