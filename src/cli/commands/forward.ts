import type { Command } from 'commander';
import { DEFAULT_IP } from '../../model/address.js';
import { FORWARD_SCHEDULES, MAX_FORWARD_OPTION, RELAY_DEFAULTS, RELAY_OPTIONS, type ForwardSpec, type RelayOptionKey } from '../../model/config.js';
import { loadState } from '../../engine/state-store.js';
import { HostaliasError, usageError } from '../../model/errors.js';
import { startForwarder, type Schedule } from '../../forward/forwarder.js';
import { relayDataPath } from '../../forward/native-relay.js';
import {
  checkNoLoop,
  describeTargets,
  formatEndpoint,
  normalizeTarget,
  FORWARD_EXAMPLE,
  parseListenAddress,
  parseTargets,
  targetsOf,
} from '../../forward/spec.js';
import { refuseForwardConflicts } from '../../model/expose.js';
import { parsePortProto } from '../../model/ports.js';
import { fixCommand, fixCommandFor, type FixCommand } from '../../model/invocation.js';
import { addCommonOptions, checked, checkedEach, cliFix, commandArgs, fsFrom, rootsFrom, type CliIO, type CommonOptions } from '../io.js';

interface ForwardFlags extends CommonOptions {
  to: string[];
  listen?: string;
  workers?: string;
  maxConnections?: string;
  maxSessions?: string;
  schedule: Schedule;
  connectTimeout: string;
  idleTimeout: string;
  grace: string;
  install?: boolean;
  uninstall?: boolean;
  forExpose?: boolean;
}

function positiveInt(text: string, flag: string, example: string, max = MAX_FORWARD_OPTION): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw usageError(`invalid ${flag} "${text}": expected a positive whole number`, `${flag} ${example}`);
  if (Number(text) > max) throw usageError(`invalid ${flag} "${text}": at most ${max}`, `${flag} ${example}`);
  return Number(text);
}

type RelayOptions = Pick<ForwardSpec, RelayOptionKey>;

/** The parser of a numeric relay option (RELAY_OPTIONS gives its flag, example and bound). */
function relayNumber(attr: string): (text: string) => string {
  const o = RELAY_OPTIONS.find((r) => r.attr === attr);
  return checked((text) => (o?.example === undefined ? text : positiveInt(text, o.flag, o.example, o.max)));
}

/**
 * The relay options given on the command line (`given` says which were; the rest keep their
 * defaults and are not stored), checked once for the foreground relay and `--install` alike.
 */
function relayOptions(flags: ForwardFlags, given: (key: string) => boolean): RelayOptions {
  const o: Record<string, string | number> = {};
  for (const { key, flag, attr, example, max } of RELAY_OPTIONS) {
    const text = (flags as unknown as Record<string, string>)[attr];
    if (!given(attr) || text === undefined) continue;
    o[key] = example === undefined ? text : positiveInt(text, flag, example, max);
  }
  return o as RelayOptions;
}

/** cliFix with this command's --root/--files-root added: a foreground relay has no Context. */
function withTarget(flags: CommonOptions): FixCommand {
  const { root, filesRoot } = rootsFrom(flags);
  const target = root ? ['--root', root] : filesRoot ? ['--files-root', filesRoot] : [];
  return (args, needs) => cliFix([...(typeof args === 'string' ? args.split(/\s+/).filter(Boolean) : args), ...target], needs);
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

async function runForeground(io: CliIO, portArg: string, flags: ForwardFlags, opts: RelayOptions): Promise<void> {
  const { port, proto } = parsePortProto(portArg, FORWARD_EXAMPLE);
  // Only the state file: a relay that runs for days doesn't load the platform backends (its RSS).
  const state = await loadState(fsFrom(flags), withTarget(flags));
  const host = flags.listen !== undefined ? parseListenAddress(flags.listen) : (state?.desired.ip ?? DEFAULT_IP);
  const listen = { host, port };
  const { targets, order } = parseTargets(port, flags.to);
  checkNoLoop(listen, targets);
  if (state) refuseForwardConflicts(state.desired, port, proto, host, flags.forExpose === true, withTarget(flags));
  // One process by default: a relay for a dev server idles at one Node's RSS; --workers N for heavy traffic.
  const workers = proto === 'udp' ? 1 : (opts.workers ?? 1);
  const graceMs = (opts.graceS ?? RELAY_DEFAULTS.graceS) * 1000;
  const fw = await startForwarder({
    proto,
    listen,
    targets,
    order,
    workers,
    schedule: opts.schedule ?? RELAY_DEFAULTS.schedule,
    connectTimeoutMs: opts.connectTimeoutMs ?? RELAY_DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: (opts.idleTimeoutS ?? RELAY_DEFAULTS.idleTimeoutS) * 1000,
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {}),
    graceMs,
    hostalias: withTarget(flags),
  });
  const to = describeTargets(targets);
  // The workers load the same bundle's addon, so this process's answer is theirs.
  const path = proto === 'tcp' ? relayDataPath() : { dataPath: 'js' as const, why: 'UDP relays copy in JavaScript' };
  if (flags.json)
    io.out(
      JSON.stringify({ event: 'listening', listen: fw.address, proto, targets, workers: fw.workers, pid: process.pid, dataPath: path.dataPath, why: path.why }),
    );
  else
    io.out(
      `forwarding ${formatEndpoint(fw.address)}/${proto} → ${to} (${fw.workers} worker${fw.workers > 1 ? 's' : ''}, data path: ${path.dataPath === 'native' ? 'C' : `JavaScript: ${path.why}`}); Ctrl-C stops`,
    );
  const sig = await waitForSignal();
  if (!flags.json) io.out(`${sig}: no new connections; letting live ones finish (up to ${graceMs / 1000} s)`);
  const stats = await fw.close();
  if (flags.json) io.out(JSON.stringify({ event: 'stopped', signal: sig, stats }));
  else
    io.out(
      `stopped: ${Object.entries(stats)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
}

async function runInstall(io: CliIO, portArg: string, flags: ForwardFlags, opts: RelayOptions): Promise<void> {
  const { port, proto } = parsePortProto(portArg, FORWARD_EXAMPLE);
  // Loaded here, not at the top: the foreground relay never needs the engine or the platforms.
  const [{ contextFrom }, { converge, resolveDesired }, { printChange }] = await Promise.all([
    import('../context-from.js'),
    import('../../engine/converge.js'),
    import('../render-change.js'),
  ]);
  const ctx = contextFrom(flags);
  const spec: ForwardSpec = { port, proto, targets: flags.to.map(normalizeTarget) };
  if (flags.listen !== undefined) spec.listen = parseListenAddress(flags.listen);
  // The options as given, so the service runs with exactly them; installing again with others rewrites it.
  Object.assign(spec, opts);
  const manager = flags.uninstall ? null : await ctx.backend.serviceManager(ctx);
  if (manager && !manager.runs) {
    // Its unit would never start: the same relay in a terminal works.
    const foreground = cliFix(
      commandArgs().filter((a) => a !== '--install' && a !== '--dry-run' && a !== '-n'),
      'user',
    );
    throw new HostaliasError(
      'unsupported',
      `forward --install: a relay can't run as a service here: ${manager.why}; nothing was changed`,
      `${foreground}  # the relay in the foreground (Ctrl-C stops it)`,
    );
  }
  const same = (f: ForwardSpec) => f.port === port && f.proto === proto;
  const res = await converge(
    ctx,
    (state) => {
      const d = resolveDesired(state, {});
      checkNoLoop({ host: spec.listen ?? d.ip, port }, targetsOf(spec));
      if (!flags.uninstall) refuseForwardConflicts(d, port, proto, spec.listen ?? d.ip, false, fixCommandFor(ctx));
      const others = d.forwards.filter((f) => !same(f));
      return { ...d, forwards: flags.uninstall ? others : [...others, spec].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto)) };
    },
    { dryRun: flags.dryRun, args: commandArgs() },
  );
  const { name: unit, logs } = ctx.backend.forwardService({ port, proto });
  printChange(io, ctx, 'forward', res, {
    json: flags.json,
    already: flags.uninstall ? `${unit} is not installed` : `${unit} is installed and up to date`,
    done: flags.uninstall ? [] : [`logs: ${logs}    remove: ${fixCommand(ctx, ['forward', `${port}/${proto}`, '--uninstall'])}`],
  });
}

export function registerForwardCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('forward'), true)
    .description(
      'relay ALIAS:PORT to a loopback-only service on 127.0.0.1 or ::1 (userspace, no firewall rules); runs in the foreground, or as a service with --install',
    )
    .argument(
      '<port>',
      'PORT, PORT/tcp or PORT/udp',
      checked((p) => parsePortProto(p, FORWARD_EXAMPLE)),
    )
    .option(
      '--to <host:port>',
      'where to relay (repeat for several: round-robin, a refusing target is skipped and tried last until it accepts); a bare PORT means 127.0.0.1 or ::1; default: PORT',
      checkedEach(normalizeTarget),
      [] as string[],
    )
    .option('--listen <addr>', 'listen on this address instead of the alias', checked(parseListenAddress))
    .option('--workers <n>', 'TCP relay processes sharing the port (default 1)', relayNumber('workers'))
    .addOption(
      program
        .createOption('--schedule <how>', 'how workers share new connections: kernel (accept races) or round-robin (primary hands them out)')
        .choices(FORWARD_SCHEDULES)
        .default(RELAY_DEFAULTS.schedule),
    )
    .option(
      '--connect-timeout <ms>',
      'reset the client when the target does not answer within MS',
      relayNumber('connectTimeout'),
      String(RELAY_DEFAULTS.connectTimeoutMs),
    )
    .option(
      '--idle-timeout <s>',
      'UDP: close a client session after S seconds without traffic',
      relayNumber('idleTimeout'),
      String(RELAY_DEFAULTS.idleTimeoutS),
    )
    .option(
      '--max-connections <n>',
      'TCP: connections held per worker before new ones are refused at once (default: from the open-files limit, two per connection)',
      relayNumber('maxConnections'),
    )
    .option('--max-sessions <n>', 'UDP: client sessions kept; when full the idlest makes room for a new client (default 4096)', relayNumber('maxSessions'))
    .option('--grace <s>', 'on SIGINT/SIGTERM, let live connections finish for up to S seconds', relayNumber('grace'), String(RELAY_DEFAULTS.graceS))
    .option(
      '--install',
      'run it as a service with these options (Linux: systemd unit hostalias-forward-PORT-PROTO; macOS: LaunchDaemon dev.hostalias.forward.PORT-PROTO); installing again with other options updates it; `down` removes it',
    )
    .option('--uninstall', 'stop and remove the service installed by --install')
    .addOption(program.createOption('--for-expose', 'run as the relay of `expose PORT` (what its service runs)').hideHelp())
    .action(async (portArg: string, flags: ForwardFlags, cmd: Command) => {
      if (flags.install && flags.uninstall) throw usageError('--install and --uninstall exclude each other', `hostalias forward ${portArg} --install`);
      const opts = relayOptions(flags, (key) => cmd.getOptionValueSource(key) !== 'default');
      if (flags.install || flags.uninstall) return runInstall(io, portArg, flags, opts);
      if (flags.dryRun) throw usageError('--dry-run only applies to --install/--uninstall', `hostalias forward ${portArg} --install --dry-run`);
      return runForeground(io, portArg, flags, opts);
    });
}
