import type { FirewallChoice } from '../../../model/config.js';
import { HostaliasError } from '../../../model/errors.js';
import { defaultFix, type FixCommand } from '../../../model/invocation.js';
import type { FirewallBackend } from './plan.js';

export interface FirewallProbes {
  /** `nft --version` succeeded. */
  nft: boolean;
  /** `iptables --version` succeeded; its text says nf_tables or legacy. */
  iptables: string | null;
}

export interface FirewallDecision {
  backend: FirewallBackend;
  reason: string;
}

/**
 * Picks the packet filter and says why. Pure. nftables is preferred: one table of our own,
 * replaced atomically; iptables (either backend) is the fallback where `nft` is missing.
 */
export function chooseFirewall(choice: FirewallChoice, p: FirewallProbes, hostalias: FixCommand = defaultFix): FirewallDecision {
  const ipt = p.iptables ? `iptables (${p.iptables})` : 'iptables';
  switch (choice) {
    case 'nftables':
      if (!p.nft)
        throw new HostaliasError(
          'unsupported',
          'nft is not installed, but --firewall nftables was asked for',
          'sudo apt-get install nftables, or use --firewall auto',
        );
      return { backend: 'nftables', reason: 'nftables (chosen with --firewall)' };
    case 'iptables':
      if (!p.iptables)
        throw new HostaliasError(
          'unsupported',
          'iptables is not installed, but --firewall iptables was asked for',
          'sudo apt-get install iptables, or use --firewall auto',
        );
      return { backend: 'iptables', reason: `${ipt} (chosen with --firewall)` };
    case 'auto':
      if (p.nft) return { backend: 'nftables', reason: 'nftables (nft found)' };
      if (p.iptables) return { backend: 'iptables', reason: `${ipt} (nft not found)` };
      throw new HostaliasError(
        'unsupported',
        'neither nft nor iptables is installed: the LAN guard and exposed ports need one',
        `sudo apt-get install nftables, or turn them off: ${hostalias(['up', '--no-lan-guard'])} (and use ${hostalias('forward PORT', 'user')} instead of expose)`,
      );
  }
}
