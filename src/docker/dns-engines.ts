import type { Context, Part } from '../model/context.js';
import type { Files } from '../model/files.js';
import { usageError } from '../model/errors.js';
import { FLAVOUR_NAMES, type EngineFlavour } from '../model/engine.js';
import { backupPathFor } from '../model/state.js';
import { emptyPlan, mergePlans, type FileOwner, type Plan, planNote } from '../model/steps.js';
import { onPath } from '../fs/system-fs.js';
import { withUserFiles } from '../fs/user-fs.js';
import { isLoopbackAddress, MAX_NAMESERVERS, parseResolvConf } from '../dns/host-files.js';
import { RESOLV_CONF } from '../dns/load.js';
import { CONTAINERS_CONF, ourDnsServers, withDnsServersValue, withoutOurDnsServers } from './containers-conf.js';
import { planDaemonJson, type DaemonObserved } from './daemon-plan.js';
import { planDnsConfig, type DnsCodec, type DnsConfigFile } from './dns-config-plan.js';
import { probeEngineFacts } from './engine.js';

/** Where systemd-resolved lists the servers behind its 127.0.0.53 stub. */
export const RESOLVED_UPSTREAMS = '/run/systemd/resolve/resolv.conf';
/** Where a sudo'd PATH may lack what is installed: looked at too. */
const STANDARD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const VM_ENGINES: readonly EngineFlavour[] = ['desktop', 'orbstack', 'colima', 'rancher', 'lima'];

/**
 * The servers engines are told to use: the alias first, then the host's own non-loopback servers
 * (resolv.conf's; behind systemd-resolved's stub, the ones it forwards to) as a fallback for the
 * moments the resolver is down, at most glibc's three in all. Read-only.
 */
export async function engineDnsServers(fs: Files, ip: string): Promise<{ servers: string[]; warning: string | null }> {
  const read = async (path: string) => {
    try {
      return await fs.read(path);
    } catch {
      return null;
    }
  };
  const conf = await read(RESOLV_CONF);
  const listed = parseResolvConf(conf ?? '');
  let fallback = listed.filter((s) => !isLoopbackAddress(s.address) && s.address !== ip && !s.address.includes('%')).map((s) => s.address);
  if (fallback.length === 0 && listed.some((s) => isLoopbackAddress(s.address))) {
    fallback = parseResolvConf((await read(RESOLVED_UPSTREAMS)) ?? '')
      .filter((s) => !isLoopbackAddress(s.address) && !s.address.includes('%'))
      .map((s) => s.address);
  }
  const warning =
    listed.length === 0
      ? `${fs.resolve(RESOLV_CONF)} ${conf === null ? 'is missing or unreadable' : 'lists no nameserver'}: the resolver answers the recorded names and /etc/hosts, and SERVFAIL for the rest until it lists one (it is followed when it changes)`
      : null;
  return { servers: [ip, ...fallback].slice(0, MAX_NAMESERVERS), warning };
}

/** A user from the passwd database (`getent passwd`, so NSS users too), or null. */
export async function lookupUser(ctx: Context, name: string): Promise<{ owner: FileOwner; home: string } | null> {
  const res = await ctx.runner.run(['getent', 'passwd', name], { timeoutMs: 5000 });
  const f = res.code === 0 ? res.stdout.trim().split(':') : [];
  if (f.length < 7 || !/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '') || !(f[5] ?? '').startsWith('/')) return null;
  return { owner: { user: name, uid: Number(f[2]), gid: Number(f[3]) }, home: f[5] ?? '/' };
}

const tomlCodec = (path: string): DnsCodec => ({
  apply: (text, servers) => withDnsServersValue(text, servers, path),
  ours: (text, ip) => ourDnsServers(text, ip, path),
  strip: (text, ip, original) => withoutOurDnsServers(text, ip, original, path),
});

/** A config file's text now, its backup and absent marker (the backups are root's, in hostalias's folder). */
async function observeFile(ctx: Context, file: DnsConfigFile): Promise<DaemonObserved> {
  const current = file.owner ? await withUserFiles(file.owner, (fs) => fs.read(file.path)) : await ctx.fs.read(file.path);
  return { current, backup: await ctx.fs.read(file.backup), absentMarker: await ctx.fs.exists(file.marker) };
}

function configFile(path: string, owner?: FileOwner): DnsConfigFile {
  const backup = backupPathFor(path);
  return { path, backup, marker: `${backup}.absent`, ...(owner ? { owner } : {}) };
}

/** The engine `docker` talks to is one with its own VM and DNS: `--dns` can't reach it (exit 2, nothing changed). */
async function refuseVmEngine(ctx: Context): Promise<void> {
  if (!ctx.live) return;
  const engine = await probeEngineFacts(ctx);
  if (!engine.reachable || !VM_ENGINES.includes(engine.flavour)) return;
  const name = FLAVOUR_NAMES[engine.flavour];
  throw usageError(
    `--dns can't be used with ${name} (${engine.flavourReason}): it runs containers in its own VM, whose DNS it manages itself${engine.flavour === 'desktop' || engine.flavour === 'orbstack' ? ' and which already resolves host.docker.internal and the host’s names' : ''}; nothing was changed`,
    `leave out --dns (hostalias up --no-dns); give containers the names with hostalias run or docker run $(hostalias flags)`,
  );
}

export async function installed(ctx: Context, cmd: string): Promise<boolean> {
  return onPath(cmd, `${ctx.env['PATH'] ?? ''}:${STANDARD_PATH}`);
}

/**
 * `up --dns` for Podman (rootful: /etc/containers/containers.conf) and for the rootless engines of
 * `--dns-user` users (their ~/.config/docker/daemon.json and ~/.config/containers/containers.conf,
 * written with their rights). Rootful Docker's daemon.json is the docker-daemon part's. Refuses an
 * engine that runs in its own VM. `--no-dns` and `down` put every file back.
 */
export const dnsEnginesPart: Part = {
  id: 'dns-engines',
  async plan(ctx, { desired, state }) {
    const on = desired?.dns === true;
    const previousIp = state?.desired.ip ?? null;
    const system = configFile(CONTAINERS_CONF);
    const users = [...new Set([...(desired?.dnsUsers ?? []), ...(state?.desired.dnsUsers ?? [])])].sort();
    const systemObs = await observeFile(ctx, system);
    if (!on && !state?.desired.dns && users.length === 0 && systemObs.backup === null && !systemObs.absentMarker) return emptyPlan();
    if (on) await refuseVmEngine(ctx);
    if (ctx.backend.platform === 'darwin') {
      // Every engine on a Mac runs in a VM (Desktop, OrbStack, Colima, Podman's machine): refused
      // above when one answers; none reads a file here, so the resolver serves this Mac's own clients.
      const notes = on
        ? [planNote('dns-macos', 'macOS: no container engine here reads a DNS setting on this Mac; the resolver answers clients on this Mac itself')]
        : [];
      return { steps: [], warnings: [], notes };
    }
    const { servers, warning } = on && desired ? await engineDnsServers(ctx.fs, desired.ip) : { servers: null, warning: null };
    const podman = await installed(ctx, 'podman');
    const plans: Plan[] = [planDnsConfig(system, tomlCodec(CONTAINERS_CONF), on && podman ? servers : null, previousIp, systemObs)];
    if (warning) plans[0]?.warnings.push(planNote('resolv-conf-empty', warning, { path: RESOLV_CONF }));
    if (users.length > 0 && !ctx.live) {
      plans.push({
        steps: [],
        warnings: [],
        notes: [
          planNote('dns-users-skipped', `--root: the rootless engines of ${users.join(', ')} are not configured (a user's files are not part of an image)`),
        ],
      });
      return mergePlans(...plans);
    }
    const rootlessDocker = (await installed(ctx, 'rootlesskit')) && (await installed(ctx, 'dockerd'));
    for (const user of users) {
      const found = await lookupUser(ctx, user);
      const wanted = on && (desired?.dnsUsers ?? []).includes(user);
      if (!found) {
        if (wanted)
          throw usageError(
            `--dns-user ${user}: no such user (getent passwd ${user} finds none); nothing was changed`,
            'give a user who runs rootless Docker or Podman',
          );
        plans.push({ steps: [], warnings: [], notes: [planNote('dns-user-gone', `user ${user} no longer exists: nothing of theirs to put back`, { user })] });
        continue;
      }
      const docker = configFile(`${found.home}/.config/docker/daemon.json`, found.owner);
      const dockerPlan = planDaemonJson(null, previousIp, await observeFile(ctx, docker), false, {
        dns: wanted && rootlessDocker ? servers : null,
        file: {
          ...docker,
          owner: found.owner,
          restart: {
            argv: null,
            hint: `rootless Docker reads ${docker.path} only when it starts: as ${user}, systemctl --user restart docker`,
          },
        },
      });
      const conf = configFile(`${found.home}/.config/containers/containers.conf`, found.owner);
      plans.push(dockerPlan, planDnsConfig(conf, tomlCodec(conf.path), wanted && podman ? servers : null, previousIp, await observeFile(ctx, conf)));
    }
    const plan = mergePlans(...plans);
    if (on && plan.steps.length > 0 && podman)
      plan.notes.push(
        planNote('dns-pickup', 'Podman: containers created from now on ask the resolver (containers.conf is read at each podman run)', { engine: 'podman' }),
      );
    return plan;
  },
};
