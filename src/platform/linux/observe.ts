import type { Context } from '../../model/context.js';
import { observeInit } from './systemd.js';
import { parseVersion } from '../../model/version.js';
import { PATHS, persistencePaths, type PersistObserved } from './persistence.js';
import type { PersistProbes } from './detect.js';

const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];

/** Detection facts; under --root they come from the folder, never from the live machine. Read-only. */
export async function observePersistProbes(ctx: Context): Promise<PersistProbes> {
  const { fs } = ctx;
  const netplanConfigs: Record<string, string> = {};
  for (const name of await fs.list('/etc/netplan')) {
    if (!/\.ya?ml$/.test(name) || `/etc/netplan/${name}` === PATHS.netplan) continue;
    netplanConfigs[name] = (await fs.read(`/etc/netplan/${name}`)) ?? '';
  }
  const { pid1, systemdInstalled } = await observeInit(ctx);
  return {
    pid1,
    systemdInstalled,
    netplanConfigs,
    interfacesFile: (await fs.read(PATHS.interfaces)) !== null,
  };
}

/** What the persistence planner needs. Read-only; service managers are only asked on a live system. */
export async function observePersistence(ctx: Context): Promise<PersistObserved> {
  const { fs, runner } = ctx;
  const files: Record<string, string | null> = {};
  for (const path of persistencePaths()) files[path] = await fs.read(path);
  let ipPath = IP_CANDIDATES[0] as string;
  for (const p of IP_CANDIDATES) {
    if (await fs.exists(p)) {
      ipPath = p;
      break;
    }
  }
  const live = !fs.isRooted;
  const nm = live ? await runner.run(['nmcli', '--version']) : null;
  return {
    files,
    wantsLink: await fs.readLink(PATHS.systemdWants),
    ipPath,
    systemdRunning: (await observeInit(ctx)).systemdRunning,
    networkdRunning: live && (await fs.exists('/run/systemd/netif')),
    netplanPresent: live && (await fs.exists('/usr/sbin/netplan')),
    nmRunning: live && (await fs.exists('/run/NetworkManager')),
    nmVersion: nm && nm.code === 0 ? (parseVersion(nm.stdout)?.join('.') ?? null) : null,
  };
}
