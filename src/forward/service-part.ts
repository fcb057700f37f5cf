import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from '../core/context.js';
import type { Part } from '../core/part.js';
import { unitName } from './spec.js';
import { planForwardServices, UNIT_DIR, UNIT_PATTERN, WANTS_DIR, type ForwardRuntime, type ForwardServicesObserved } from './service-plan.js';

/** Reads the forward units and their wants links. Read-only; under --root only the folder is read. */
export async function observeForwardServices(ctx: Context, extraNames: readonly string[]): Promise<ForwardServicesObserved> {
  const units: Record<string, string> = {};
  for (const name of await ctx.fs.list(UNIT_DIR)) {
    if (!UNIT_PATTERN.test(name)) continue;
    const text = await ctx.fs.read(`${UNIT_DIR}/${name}`);
    if (text !== null) units[name] = text;
  }
  const wants: Record<string, string | null> = {};
  for (const name of new Set([...Object.keys(units), ...extraNames])) wants[name] = await ctx.fs.readLink(`${WANTS_DIR}/${name}`);
  return { units, wants, systemdRunning: !ctx.fs.isRooted && (await ctx.fs.exists('/run/systemd/system')) };
}

/** The node binary and CLI entry point this installation runs from (what the unit will start). */
export function currentRuntime(): ForwardRuntime {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  let cliPath = cli;
  try {
    cliPath = realpathSync(cli);
  } catch {
    // not built next to this module (unusual); keep the computed path
  }
  return { nodePath: process.execPath, cliPath };
}

/** Forward relays installed as systemd services (`forward --install`); `down` stops and removes them. */
export const forwardServicesPart: Part = {
  id: 'forward-services',
  async plan(ctx, { desired }) {
    const forwards = desired?.forwards ?? [];
    const obs = await observeForwardServices(ctx, forwards.map(unitName));
    return planForwardServices(desired ? { ip: desired.ip, forwards } : null, obs, currentRuntime());
  },
};
