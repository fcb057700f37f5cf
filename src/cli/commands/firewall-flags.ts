import type { Desired, FirewallChoice } from '../../model/config.js';
import { FIREWALL_CHOICES, parseIfaceName } from '../../model/expose.js';
import type { UpFlagExtension } from './alias.js';

/** `up --lan-guard/--no-lan-guard`, `--allow-iface IFACE` (repeatable), `--firewall KIND`. */
export const firewallUpFlags: UpFlagExtension = {
  add(cmd) {
    cmd
      .option('--lan-guard', 'answer on the alias only for lo and container bridges (default)')
      .option('--no-lan-guard', 'let any interface reach the alias (a LAN host routing to it reaches its services)')
      .option(
        '--allow-iface <iface>',
        'also trust this interface like a container bridge (repeatable; replaces the stored list)',
        (v: string, prev: string[] | undefined) => [...(prev ?? []), parseIfaceName(v)],
      )
      .addOption(cmd.createOption('--firewall <kind>', 'packet filter for the guard and exposed ports').choices([...FIREWALL_CHOICES]));
  },
  changes(flags) {
    return {
      lanGuard: typeof flags['lanGuard'] === 'boolean' ? flags['lanGuard'] : undefined,
      allowIfaces: Array.isArray(flags['allowIface']) ? (flags['allowIface'] as string[]) : undefined,
      firewall: flags['firewall'] as FirewallChoice | undefined,
    } as Partial<Desired>;
  },
};
