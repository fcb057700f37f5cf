import type { Command } from 'commander';
import { isIP } from 'node:net';
import { usageError } from '../../model/errors.js';
import { parsePort } from '../../model/ports.js';
import { addCommonOptions, type CliIO, type CommonOptions } from '../io.js';

interface ServeFlags extends CommonOptions {
  ip: string;
  keptOut?: string;
}

/**
 * `hostalias serve`: the one service process in the foreground (what hostalias-serve.service
 * runs): `expose --all`'s loopback relay, which carries TCP services that listen on ::1 only, and
 * the watcher that keeps the firewall's set of those ports current. SIGINT and SIGTERM stop it,
 * letting live connections finish for their grace period. Needs root (a privileged port, nft).
 */
export function registerServeCommand(program: Command, io: CliIO): void {
  addCommonOptions(program.command('serve'), false)
    .description("run expose --all's loopback relay (TCP services on ::1 only) in the foreground; what hostalias-serve.service runs")
    .requiredOption('--ip <address>', 'the alias whose redirected connections are relayed')
    .option('--kept-out <ports>', 'ports never relayed (those expose --all keeps out), e.g. 2375,2376')
    .action(async (flags: ServeFlags) => {
      if (isIP(flags.ip) !== 4) throw usageError(`--ip ${flags.ip} is not an IPv4 address`, 'hostalias serve --ip 10.254.254.254');
      const keptOut = (flags.keptOut ?? '')
        .split(',')
        .filter((p) => p.trim() !== '')
        .map((p) => parsePort(p.trim(), '--kept-out port', 'hostalias serve --ip 10.254.254.254 --kept-out 2375,2376'));
      // Only now the platform and the relay load (a usage error costs neither).
      const { contextFrom } = await import('../context-from.js');
      const { startService } = await import('../../engine/serve.js');
      const ctx = contextFrom(flags);
      const log = (line: string) => io.out(flags.json ? JSON.stringify({ event: 'log', message: line }) : line);
      const service = await startService(ctx, { ip: flags.ip, keptOut }, log);
      io.out(flags.json ? JSON.stringify({ event: 'serving', pid: process.pid }) : `serving (pid ${process.pid}); SIGTERM stops`);
      const sig = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log(`${sig}: stopping`);
      await service.close();
      io.out(flags.json ? JSON.stringify({ event: 'stopped', signal: sig }) : 'stopped');
    });
}
