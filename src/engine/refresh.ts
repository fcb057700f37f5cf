import type { Context } from '../model/context.js';
import { converge, type ChangeResult } from './converge.js';
import { targetArgs } from '../model/invocation.js';

/**
 * Re-plans only the firewall with the stored configuration: re-sorts the bridges present now into
 * container networks and LAN bridges (a LAN bridge made after `up` joins the excluded set).
 * Container networks never need it: they are trusted by kind from their first packet. A converge like any other (lock,
 * journal, rollback). Needs root unless `dryRun`. Idempotent: with nothing new it changes nothing.
 */
export function refreshFirewall(ctx: Context, opts: { dryRun?: boolean } = {}): Promise<ChangeResult> {
  return converge(ctx, (state) => state?.desired ?? null, { ...opts, only: ['firewall'], label: 'refresh', args: ['refresh', ...targetArgs(ctx)] });
}
