import type { Context } from '../core/context.js';
import type { Part } from '../core/part.js';
import type { PersistDecision } from './linux/detect.js';
import { choosePersistence } from './linux/detect.js';
import { isAliasPresent } from '../plan/alias.js';
import { listAddresses } from './linux/ip.js';
import { observePersistProbes } from './linux/observe.js';
import { linuxParts } from './linux/parts.js';
import type { PersistChoice } from '../core/config.js';
import { chooseMacPersistence, refuseOnLinux } from './darwin/backend.js';
import { isLo0AliasPresent, listLo0 } from './darwin/ifconfig.js';
import { darwinParts } from './darwin/parts.js';

/** A platform's implementation of the alias lifecycle. */
export interface Backend {
  parts: readonly Part[];
  /** Which persistence backend `choice` means here, and why. Read-only. */
  decidePersistence(ctx: Context, choice: PersistChoice): Promise<PersistDecision>;
  /** The alias is on the loopback right now. Read-only, no root needed. */
  aliasPresent(ctx: Context, ip: string): Promise<boolean>;
}

const linuxBackend: Backend = {
  parts: linuxParts,
  async decidePersistence(ctx, choice) {
    refuseOnLinux(choice);
    return choosePersistence(choice, await observePersistProbes(ctx));
  },
  async aliasPresent(ctx, ip) {
    return isAliasPresent(await listAddresses(ctx.runner), ip);
  },
};

/** macOS: lo0 alias, LaunchDaemon persistence, pf redirects (src/platform/darwin, issue 6). */
const darwinBackend: Backend = {
  parts: darwinParts,
  async decidePersistence(_ctx, choice) {
    return chooseMacPersistence(choice);
  },
  async aliasPresent(ctx, ip) {
    return isLo0AliasPresent(await listLo0(ctx.runner), ip);
  },
};

export function backendFor(ctx: Context): Backend {
  switch (ctx.platform) {
    case 'linux':
      return linuxBackend;
    case 'darwin':
      return darwinBackend;
  }
}
