import type { Context } from '../model/context.js';
import { usageError } from '../model/errors.js';

/**
 * Options that mean something only on Linux are refused on macOS (exit 2, nothing changed) instead
 * of being accepted and ignored: `--label` (Linux interface labels; ifconfig has none) and
 * `--firewall` (nftables or iptables; macOS has pf, which hostalias always uses there).
 */
export function refuseLinuxOnly(ctx: Context, given: Record<string, unknown>): void {
  if (ctx.backend.platform !== 'darwin') return;
  const used = Object.entries(given)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
  if (used.length === 0) return;
  throw usageError(
    `${used.join(' and ')} ${used.length > 1 ? 'are' : 'is'} Linux-only and ${used.length > 1 ? 'have' : 'has'} no meaning on macOS (the alias is on lo0 without a label; pf carries the LAN guard and --keep-source redirects)`,
    `run it again without ${used.join(' and ')}`,
  );
}
