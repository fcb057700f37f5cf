import type { Part } from '../model/context.js';
import { HostaliasError } from '../model/errors.js';
import { emptyPlan, planNote } from '../model/steps.js';
import { chooseGatewayKey, DAEMON_JSON, GATEWAY_KEYS, parseDaemonJson, type GatewayKey } from './daemon-json.js';
import { DAEMON_ABSENT_MARKER, DAEMON_BACKUP, planDaemonJson, type DaemonObserved } from './daemon-plan.js';
import { probeEngine } from './engine.js';
import { FLAVOUR_NAMES } from '../model/engine.js';
import { fixCommand } from '../model/invocation.js';
import type { Context } from '../model/context.js';
import { engineDnsServers, installed } from './dns-engines.js';

async function observeDaemon(ctx: Context): Promise<DaemonObserved> {
  return {
    current: await ctx.fs.read(DAEMON_JSON),
    backup: await ctx.fs.read(DAEMON_BACKUP),
    absentMarker: await ctx.fs.exists(DAEMON_ABSENT_MARKER),
  };
}

/** The key this engine reads; when no engine answers, the key daemon.json already uses. */
async function decideKey(ctx: Context, current: string | null): Promise<{ key: GatewayKey; note: string }> {
  const engine = ctx.live ? await probeEngine(ctx.runner, { bridges: false }) : null;
  const fix = `leave out --docker-daemon (${fixCommand(ctx, ['up', '--no-docker-daemon'])}); use ${fixCommand(ctx, 'run', 'user')} or docker run $(${fixCommand(ctx, 'flags', 'user')}) for the other names`;
  if (engine?.reachable && engine.flavour === 'podman') {
    throw new HostaliasError(
      'unsupported',
      `--docker-daemon configures Docker Engine's ${DAEMON_JSON}, which Podman does not read (${engine.flavourReason})`,
      fix,
    );
  }
  if (engine?.reachable && engine.flavour !== 'engine') {
    const name = FLAVOUR_NAMES[engine.flavour];
    throw new HostaliasError(
      'unsupported',
      `--docker-daemon does not work with ${name} (${engine.flavourReason}): ${name} runs the engine in its own VM and manages daemon.json there${engine.flavour === 'desktop' ? ', and already points host.docker.internal and host-gateway at the host' : ''}`,
      fix,
    );
  }
  const found = !engine
    ? null
    : engine.reachable
      ? { version: engine.serverVersion, source: `the running engine (docker version: ${engine.serverVersion})` }
      : engine.installed;
  if (found) {
    const key = chooseGatewayKey(found.version);
    return { key, note: `docker daemon: "${key}" because the engine is ${found.version}, from ${found.source}` };
  }
  const obj = parseDaemonJson(current);
  const existing = GATEWAY_KEYS.find((k) => k in obj);
  if (existing)
    return {
      key: existing,
      note: `docker daemon: no engine answered (docker version, dockerd --version); keeping the "${existing}" key ${DAEMON_JSON} already uses`,
    };
  if (!ctx.live)
    return {
      key: 'host-gateway-ip',
      note: `docker daemon: "host-gateway-ip" (Engine 20.10–27) because --root asks no running engine; Engine 28+ reads "host-gateway-ips"`,
    };
  throw new HostaliasError(
    'unsupported',
    `can't tell which Docker Engine version to configure: \`docker version\` got no answer from the engine and \`dockerd --version\` failed`,
    `start Docker (sudo systemctl start docker) or set DOCKER_HOST, then run ${fixCommand(ctx, ['up', '--docker-daemon'])} again`,
  );
}

/** Rootful Docker is here: its daemon or its daemon.json (the engine need not run to be configured). */
async function rootfulDocker(ctx: Context, obs: DaemonObserved): Promise<boolean> {
  return obs.current !== null || (await installed(ctx, 'dockerd'));
}

/** What the note after a `"dns"` change says about which containers use the resolver. */
export const DNS_PICKUP_NOTE =
  'Docker: containers started after the daemon restart ask the resolver (a container keeps the DNS it started with until it is restarted)';

/**
 * Docker's `host-gateway` (for `--add-host NAME:host-gateway`) resolves to the alias, for every
 * container, via daemon.json; with `--dns`, containers ask the resolver first ("dns"). Needs a
 * daemon restart to take effect, which `restartDocker` does.
 */
export const dockerDaemonPart: Part = {
  id: 'docker-daemon',
  async plan(ctx, { desired, state }) {
    const obs = await observeDaemon(ctx);
    const restart = (desired ?? state?.desired)?.restartDocker === true;
    const dns = desired?.dns && (await rootfulDocker(ctx, obs)) ? (await engineDnsServers(ctx.fs, desired.ip)).servers : null;
    if (!desired?.dockerDaemon && !dns) {
      if (obs.backup === null && !obs.absentMarker) return emptyPlan();
      return planDaemonJson(null, state?.desired.ip ?? null, obs, restart);
    }
    parseDaemonJson(obs.current); // refuse malformed JSON before asking the engine anything
    const gateway = desired?.dockerDaemon ? await decideKey(ctx, obs.current) : null;
    const plan = planDaemonJson(desired?.dockerDaemon && gateway ? { ip: desired.ip, key: gateway.key } : null, state?.desired.ip ?? null, obs, restart, {
      dns,
    });
    if (plan.steps.length > 0 && gateway) plan.notes.push(planNote('daemon-json-key', gateway.note, { key: gateway.key }));
    if (plan.steps.length > 0 && dns) plan.notes.push(planNote('dns-pickup', DNS_PICKUP_NOTE, { engine: 'docker' }));
    return plan;
  },
};
