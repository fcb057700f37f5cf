import type { Context } from '../../model/context.js';
import type { Part } from '../../model/context.js';
import { currentRuntime } from '../../exec/runtime.js';
import { unitName } from '../../forward/spec.js';
import { keptOut, managedForwards } from '../../model/expose.js';
import { observeInit } from './systemd.js';
import { planForwardServices, SERVE_UNIT, UNIT_DIR, UNIT_PATTERN, WANTS_DIR, type ForwardServicesObserved } from './forward-units.js';

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
  return { units, wants, systemdRunning: (await observeInit(ctx)).systemdRunning };
}

/** Relays run as systemd services (`forward --install`, `expose` via relay, and `expose --all`'s loopback relay in hostalias-serve.service); `down` stops and removes them. */
export const forwardServicesPart: Part = {
  id: 'forward-services',
  async plan(ctx, { desired }) {
    const forwards = desired ? managedForwards(desired) : [];
    const loopback = desired?.exposeAll ? { keptOut: keptOut(desired) } : null;
    const obs = await observeForwardServices(ctx, [...forwards.map(unitName), ...(loopback ? [SERVE_UNIT] : [])]);
    return planForwardServices(desired ? { ip: desired.ip, forwards, loopback } : null, obs, currentRuntime());
  },
};
