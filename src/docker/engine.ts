/**
 * The one probe of the container engine the `docker` CLI talks to (it honours DOCKER_HOST and
 * DOCKER_CONTEXT by itself): version, rootless, which product serves it, bridge networks.
 * Read-only; every call is bounded, and an absent or hung engine is an answer, never a throw.
 */
import type { Runner, RunResult } from '../model/runner.js';
import type { Context, PlatformName } from '../model/context.js';
import { FLAVOUR_NAMES, type EngineFacts, type EngineFlavour, type EngineProbe } from '../model/engine.js';
import { listBridges } from './networks.js';
import { onPath } from '../fs/system-fs.js';

/** Each docker call gets this long; the runner kills it after. A healthy engine answers in well under a second. */
export const ENGINE_PROBE_TIMEOUT_MS = 5_000;

interface VersionJson {
  Client?: { Version?: string } | null;
  Server?: { Version?: string; Platform?: { Name?: string } | null; Components?: Array<{ Name?: string; Version?: string }> | null } | null;
}

interface InfoJson {
  OperatingSystem?: string;
  Name?: string;
  KernelVersion?: string;
  SecurityOptions?: string[] | null;
}

/** The raw answers the facts are read from; a field is '' when its command failed. */
export interface EngineAnswers {
  version: string;
  info: string;
  context: string;
}

/** A JSON object from an engine or the docker CLI's files; null when `text` is missing or not one. Pure. */
export function parseJsonObject(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseObject<T>(text: string): T {
  return (parseJsonObject(text) ?? {}) as T;
}

/**
 * What containers reach as host.docker.internal when the engine itself provides the name, else
 * null. Every product below maps it to a proxy or NAT that reaches the host's own 127.0.0.1, so
 * a `--add-host host.docker.internal:ALIAS` would take that away: only services bound to the
 * alias or 0.0.0.0 (or exposed) would answer there. Pure.
 * - Docker Desktop: vpnkit's slirp.ml "Proxies connections to services on localhost on the host";
 *   OrbStack gives the name the same meaning.
 * - Colima, Lima's docker templates, Rancher Desktop: the VM's host resolver maps it to
 *   host.lima.internal (Colima environment/vm/lima/yaml.go and embedded/defaults/colima.yaml
 *   `dnsHosts`, Lima templates/docker.yaml `hostResolver.hosts`, Rancher Desktop
 *   backend/lima.ts), which Lima documents as "the loopback addresses of the host"
 *   (docs/config/network/user.md: 192.168.5.2); with user-v2 its gvproxy NATs the gateway to
 *   127.0.0.1 (pkg/networks/usernet/gvproxy.go).
 * - Podman machine (Podman on macOS): gvproxy answers host.docker.internal and
 *   host.containers.internal with its host address 192.168.127.254 and NATs that to 127.0.0.1
 *   (gvisor-tap-vsock cmd/gvproxy/config.go). Podman on Linux maps the name to the host's own
 *   address, not its loopback, so there the alias may take it.
 */
export function ownHostDockerInternal(flavour: EngineFlavour, platform: PlatformName): string | null {
  const name = FLAVOUR_NAMES[flavour];
  switch (flavour) {
    case 'desktop':
    case 'orbstack':
      return `${name} resolves host.docker.internal itself, to a proxy that reaches this host's 127.0.0.1`;
    case 'colima':
    case 'lima':
    case 'rancher':
      return `${name}'s VM resolves host.docker.internal to host.lima.internal (192.168.5.2), which Lima's user-mode network sends to this host's 127.0.0.1`;
    case 'podman':
      return platform === 'darwin'
        ? "Podman machine's gvproxy resolves host.docker.internal to its host address (192.168.127.254), which it sends to this Mac's 127.0.0.1"
        : null;
    default:
      return null;
  }
}

/**
 * Which product serves the engine, and the field that says so. Podman first (it answers Docker's
 * API under any context name), then the VM products by what they report about themselves. Pure.
 */
export function classifyEngine(v: VersionJson, info: InfoJson, context: string): { flavour: EngineFlavour; reason: string } {
  const platform = v.Server?.Platform?.Name ?? '';
  const podman = (v.Server?.Components ?? []).find((c) => /podman/i.test(c.Name ?? ''));
  if (podman) return { flavour: 'podman', reason: `docker version lists the component "${podman.Name}"` };
  if (/podman/i.test(platform)) return { flavour: 'podman', reason: `docker version reports the platform "${platform}"` };
  const os = info.OperatingSystem ?? '';
  if (/docker desktop/i.test(platform)) return { flavour: 'desktop', reason: `docker version reports the platform "${platform}"` };
  if (/docker desktop/i.test(os)) return { flavour: 'desktop', reason: `docker info reports "${os}"` };
  if (info.Name === 'docker-desktop') return { flavour: 'desktop', reason: 'docker info names the host "docker-desktop"' };
  if (/^desktop-/.test(context)) return { flavour: 'desktop', reason: `the docker context is "${context}"` };
  if (/orbstack/i.test(os)) return { flavour: 'orbstack', reason: `docker info reports "${os}"` };
  if (info.Name === 'orbstack' || /-orbstack\b/.test(info.KernelVersion ?? ''))
    return { flavour: 'orbstack', reason: `docker info names the host "${info.Name ?? ''}" (kernel ${info.KernelVersion ?? '?'})` };
  if (context === 'orbstack') return { flavour: 'orbstack', reason: 'the docker context is "orbstack"' };
  if (/^colima(-|$)/.test(context)) return { flavour: 'colima', reason: `the docker context is "${context}"` };
  if (/^colima(-|$)/.test(info.Name ?? '')) return { flavour: 'colima', reason: `docker info names the host "${info.Name ?? ''}"` };
  // Rancher Desktop on macOS is a Lima VM named "rancher-desktop" (docker context rancher-desktop,
  // VM host name lima-rancher-desktop), so it is told apart before plain Lima.
  if (context === 'rancher-desktop') return { flavour: 'rancher', reason: 'the docker context is "rancher-desktop"' };
  if (info.Name === 'lima-rancher-desktop' || /rancher desktop/i.test(os))
    return { flavour: 'rancher', reason: `docker info names the host "${info.Name ?? ''}" (${os || 'no operating system'})` };
  // limactl's docker template: the VM's host name is lima-INSTANCE; `limactl start template://docker` suggests the context lima-docker.
  if (/^lima-/.test(info.Name ?? '')) return { flavour: 'lima', reason: `docker info names the host "${info.Name ?? ''}"` };
  if (/^lima-/.test(context)) return { flavour: 'lima', reason: `the docker context is "${context}"` };
  return { flavour: 'engine', reason: `docker info reports "${os || 'no operating system'}"` };
}

/** Facts from the answers of `docker version`, `docker info` (JSON) and `docker context show`. Pure. */
export function parseEngine(answers: EngineAnswers): EngineFacts {
  return engineFacts(parseObject<VersionJson>(answers.version), parseObject<InfoJson>(answers.info), answers.context.trim());
}

function engineFacts(v: VersionJson, info: InfoJson, context: string): EngineFacts {
  const { flavour, reason } = classifyEngine(v, info, context);
  return {
    serverVersion: v.Server?.Version ?? 'unknown',
    clientVersion: v.Client?.Version ?? 'unknown',
    os: info.OperatingSystem ?? '',
    rootless: (info.SecurityOptions ?? []).some((o) => /(^|,)name=rootless(,|$)/.test(o)),
    flavour,
    flavourReason: reason,
  };
}

/** The version in `dockerd --version` ("Docker version 20.10.24+dfsg1, build 5d6db84"). Pure. */
export function parseDockerdVersion(text: string): string | null {
  return /version\s+v?(\d+\.\d+[^\s,]*)/i.exec(text)?.[1] ?? null;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? ''
  );
}

function why(res: RunResult, argv: readonly string[]): string {
  if (res.timedOut) return `\`${argv.join(' ')}\` got no answer within ${ENGINE_PROBE_TIMEOUT_MS / 1000} s`;
  return (res.stderr || res.stdout).trim() || `\`${argv.join(' ')}\` exited ${res.code}`;
}

async function installedDockerd(runner: Runner, engineError: string): Promise<{ version: string; source: string } | null> {
  const res = await runner.run(['dockerd', '--version'], { timeoutMs: ENGINE_PROBE_TIMEOUT_MS });
  const version = res.code === 0 ? parseDockerdVersion(res.stdout) : null;
  if (version === null) return null;
  return { version, source: `dockerd --version: ${version} (the engine did not answer: ${firstLine(engineError) || 'no answer'})` };
}

export interface ProbeOptions {
  /** Also list the bridge networks (two more docker calls). Default true. */
  bridges?: boolean;
  /** Ask `dockerd --version` when the engine doesn't answer (doctor shows it). Default true. */
  installed?: boolean;
}

/** Asks the engine for its version, flavour, rootless mode and bridge networks. Read-only; never throws for an absent engine. */
export async function probeEngine(runner: Runner, opts: ProbeOptions = {}): Promise<EngineProbe> {
  const timeoutMs = ENGINE_PROBE_TIMEOUT_MS;
  const versionArgv = ['docker', 'version', '--format', '{{json .}}'];
  const version = await runner.run(versionArgv, { timeoutMs });
  const installed = (error: string) => (opts.installed === false ? Promise.resolve(null) : installedDockerd(runner, error));
  if (version.code === 127) {
    const error = 'the docker CLI is not installed';
    return { reachable: false, cliMissing: true, error, installed: await installed(error) };
  }
  // `docker version` prints the client part ("Server":null) and exits non-zero when the server doesn't answer.
  if (version.code !== 0 || !parseObject<VersionJson>(version.stdout).Server) {
    const error = why(version, versionArgv);
    return { reachable: false, cliMissing: false, error, installed: await installed(error) };
  }
  const [info, context, bridges] = await Promise.all([
    runner.run(['docker', 'info', '--format', '{{json .}}'], { timeoutMs }),
    runner.run(['docker', 'context', 'show'], { timeoutMs }),
    opts.bridges === false ? null : listBridges(runner, timeoutMs),
  ]);
  const facts = parseEngine({ version: version.stdout, info: info.code === 0 ? info.stdout : '', context: context.code === 0 ? context.stdout : '' });
  return { reachable: true, ...facts, bridges: bridges?.networks ?? [] };
}

/**
 * The facts of `probeEngine(runner, { bridges: false, installed: false })`, asked over the
 * engine's API socket when the context can (ctx.native: no docker process), else
 * through the docker CLI. Over the socket the client's version is 'unknown'. `basis.files` is set
 * to the files the answer rests on (the engine's config, context and socket; none when there is
 * no docker CLI): while none of them changes, neither does the answer. It stays null when the CLI
 * or a TCP engine answered. Read-only; never throws for an absent engine.
 */
export async function probeEngineFacts(
  ctx: Pick<Context, 'runner' | 'env' | 'native'>,
  basis: { files: string[] | null } = { files: null },
): Promise<EngineProbe> {
  const viaApi = ctx.native ? await probeOverApi(ctx.native, ctx.env, basis) : null;
  return viaApi ?? probeEngine(ctx.runner, { bridges: false, installed: false });
}

/** null: only the docker CLI can tell. */
async function probeOverApi(
  native: NonNullable<Context['native']>,
  env: Readonly<Record<string, string | undefined>>,
  basis: { files: string[] | null },
): Promise<EngineProbe | null> {
  // The question is about the engine `docker` talks to: without the CLI there is none, as for probeEngine.
  if (!(await onPath('docker', env['PATH']))) {
    basis.files = [];
    return { reachable: false, cliMissing: true, error: 'the docker CLI is not installed', installed: null };
  }
  const api = await native.engine();
  if (api === null) return null;
  const [version, info] = await Promise.all([api.get('/version', ENGINE_PROBE_TIMEOUT_MS), api.get('/info', ENGINE_PROBE_TIMEOUT_MS)]);
  if (version.kind === 'down') {
    basis.files = api.files;
    return { reachable: false, cliMissing: false, error: version.error, installed: null };
  }
  if (version.kind !== 'answer' || version.status !== 200) return null;
  const server = parseObject<NonNullable<VersionJson['Server']>>(version.body);
  if (typeof server.Version !== 'string') return null;
  const infoJson = info.kind === 'answer' && info.status === 200 ? parseObject<InfoJson>(info.body) : {};
  basis.files = api.files;
  return { reachable: true, ...engineFacts({ Server: server }, infoJson, api.context), bridges: [] };
}

/** The container CLI hostalias runs (`run`, `doctor --probe`). */
export type EngineCli = 'docker' | 'podman';

export interface EngineChoice {
  cli: EngineCli;
  reason: string;
}

/**
 * Which CLI to run, and why. Pure. An explicit `--engine` wins; then the environment:
 * CONTAINER_HOST is Podman's remote socket, a DOCKER_HOST naming a podman socket means Podman
 * serves the API; then what is installed: the only one, or docker when both are.
 */
export function chooseEngine(
  asked: EngineCli | undefined,
  installed: { docker: boolean; podman: boolean },
  env: Readonly<Record<string, string | undefined>>,
): EngineChoice | null {
  if (asked) return installed[asked] ? { cli: asked, reason: `--engine ${asked}` } : null;
  const containerHost = env['CONTAINER_HOST']?.trim();
  if (containerHost && installed.podman) return { cli: 'podman', reason: `CONTAINER_HOST=${containerHost}` };
  const dockerHost = env['DOCKER_HOST']?.trim() ?? '';
  if (/podman/i.test(dockerHost) && installed.podman) return { cli: 'podman', reason: `DOCKER_HOST=${dockerHost} is a Podman socket` };
  if (installed.docker && installed.podman) return { cli: 'docker', reason: 'docker and podman are both installed: docker unless --engine podman' };
  if (installed.docker) return { cli: 'docker', reason: 'only docker is installed' };
  if (installed.podman) return { cli: 'podman', reason: 'only podman is installed' };
  return null;
}

/** Whether each CLI is installed (on PATH). Read-only; starts no process. */
export async function installedEngines(env: Readonly<Record<string, string | undefined>>): Promise<{ docker: boolean; podman: boolean }> {
  const [docker, podman] = await Promise.all([onPath('docker', env['PATH']), onPath('podman', env['PATH'])]);
  return { docker, podman };
}

/** What `podman info` says about how its containers reach the host. */
export interface PodmanFacts {
  version: string;
  rootless: boolean;
  /** cni / netavark (rootful networks). */
  networkBackend: string;
  /** slirp4netns or pasta (rootless). */
  rootlessNetwork: string;
}

interface PodmanInfoJson {
  host?: {
    security?: { rootless?: boolean };
    networkBackend?: string;
    slirp4netns?: { executable?: string };
    pasta?: { executable?: string };
    rootlessNetworkCmd?: string;
  };
  version?: { Version?: string };
}

/** Facts from `podman info --format json` (Podman 4.x). Pure. */
export function parsePodmanInfo(text: string): PodmanFacts {
  const info = parseObject<PodmanInfoJson>(text);
  const h = info.host ?? {};
  const rootlessNetwork = h.rootlessNetworkCmd || (h.pasta?.executable ? 'pasta' : h.slirp4netns?.executable ? 'slirp4netns' : '');
  return { version: info.version?.Version ?? 'unknown', rootless: h.security?.rootless === true, networkBackend: h.networkBackend ?? '', rootlessNetwork };
}

/** Asks Podman (the `podman` CLI, honouring CONTAINER_HOST) what it is. Read-only; null when it doesn't answer. */
export async function probePodman(runner: Runner): Promise<PodmanFacts | null> {
  const res = await runner.run(['podman', 'info', '--format', 'json'], { timeoutMs: ENGINE_PROBE_TIMEOUT_MS * 3 });
  return res.code === 0 ? parsePodmanInfo(res.stdout) : null;
}

/**
 * What reaches the host in this engine's mode, in one sentence for doctor and notes. Pure.
 * Rootful engines reach it through a bridge (trusted by kind); rootless ones through slirp4netns,
 * pasta or RootlessKit, which connect from the host's own stack (lo).
 */
export function describeReach(mode: { rootless: boolean; cli: EngineCli; rootlessNetwork?: string }): string {
  if (!mode.rootless) return `rootful ${mode.cli}: containers reach the alias through their network's bridge (trusted by kind, also networks created later)`;
  const via = mode.cli === 'podman' ? mode.rootlessNetwork || 'slirp4netns' : 'RootlessKit (slirp4netns/vpnkit/pasta)';
  return `rootless ${mode.cli}: containers reach the alias through ${via}, which connects from this host itself (lo): services on 0.0.0.0 or the alias answer, 127.0.0.1-only ones once exposed (hostalias expose PORT DNATs the host's own connections too)`;
}
