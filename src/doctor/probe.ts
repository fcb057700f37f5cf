import { randomBytes } from 'node:crypto';
import { addHostArgs } from '../docker/add-hosts.js';
import type { Runner, RunResult } from '../model/runner.js';
import { parseProbeOutput, pickProbeImage, PROBE_SCRIPT, type ProbeOutput } from './probe-script.js';
import { fail, ok, warn } from '../model/finding.js';
import { upDnsArgs } from './check-dns.js';
import type { DoctorInput, Finding } from '../model/context.js';

export interface ProbeOptions {
  ports: number[];
  image?: string;
  /** The CLI that starts the probe container (`--engine`; default docker). */
  engine?: 'docker' | 'podman';
  /** Start it on this network (`--network`: a compose project's network, say). */
  network?: string;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Told the container name before it starts, so a Ctrl-C handler can remove it. */
  onContainer?: (name: string) => void;
}

/** `docker rm -f NAME` (or podman's): "already gone" is success. */
export async function removeProbeContainer(runner: Runner, name: string, engine: 'docker' | 'podman' = 'docker'): Promise<void> {
  await runner.run([engine, 'rm', '-f', name], { timeoutMs: 30_000 });
}

/** The probe's `docker run` argv (after `docker`). Pure. */
export function probeRunArgs(name: string, image: string, input: Pick<DoctorInput, 'desired'>, ports: number[], network?: string): string[] {
  const { desired } = input;
  // With --dns the container is a plain one (no --add-host): the names must come from the resolver,
  // as for containers other tools start. With --docker-daemon they go through host-gateway, so the
  // probe also tests daemon.json.
  const hosts = desired.dns
    ? []
    : desired.dockerDaemon
      ? desired.names.map((n) => `--add-host=${n}:host-gateway`)
      : addHostArgs({ ip: desired.ip, names: desired.names });
  return [
    'run',
    '--rm',
    '--name',
    name,
    '--label',
    'hostalias.doctor=probe',
    '--pull',
    'never',
    ...(network ? ['--network', network] : []),
    ...hosts,
    '--entrypoint',
    'sh',
    image,
    '-c',
    PROBE_SCRIPT,
    'probe',
    desired.names.join(' '),
    ports.join(' '),
  ];
}

/** Ports to probe when none are given: the host services the platform says containers reach. */
export async function defaultProbePorts(input: DoctorInput): Promise<number[]> {
  return (await input.ctx.backend.doctor.reachablePorts(input)).slice(0, 12);
}

/** Docker's embedded DNS, which containers on user networks ask; it forwards to the daemon's servers. */
const EMBEDDED_DNS = '127.0.0.11';

/**
 * Why a plain container (`--dns`) doesn't resolve a name: its resolv.conf doesn't lead to the
 * resolver (the engine has not read its new setting), or the resolver didn't answer it. Pure.
 */
export function dnsResolveFailure(
  input: Pick<DoctorInput, 'desired' | 'hostalias'>,
  nameservers: readonly string[],
  engine: { cli: 'docker' | 'podman'; rootless: boolean },
  resolverLogs: string,
): { why: string; fix: string } {
  const { desired, hostalias } = input;
  const via = nameservers.includes(desired.ip) ? 'the alias' : nameservers.includes(EMBEDDED_DNS) ? `Docker's embedded DNS (${EMBEDDED_DNS})` : null;
  if (via)
    return {
      why: `the container asks ${via}, but the resolver gave no address (see the dns findings)`,
      fix: `${resolverLogs}   # the resolver's log; the dns findings name the fix`,
    };
  const listed = nameservers.length > 0 ? nameservers.join(', ') : 'no nameserver';
  if (engine.cli === 'podman')
    return {
      why: `the container's resolv.conf lists ${listed}, not the alias: Podman doesn't have the resolver in its containers.conf`,
      fix: hostalias(upDnsArgs(desired)),
    };
  return {
    why: `the container's resolv.conf lists ${listed}, not the alias: the daemon has not read "dns" from daemon.json (it does only when it starts)`,
    fix: engine.rootless ? 'systemctl --user restart docker   # as the user whose rootless Docker this is' : 'sudo systemctl restart docker',
  };
}

/** Turns the container's report into findings (id `probe`), with a fix per failure. */
export async function probeFindings(input: DoctorInput, out: ProbeOutput, cli: 'docker' | 'podman' = 'docker'): Promise<Finding[]> {
  const { desired, hostalias } = input;
  const findings: Finding[] = [];
  if (out.ncMissing)
    findings.push(warn('probe', 'the image has no nc: connections were not tested', hostalias(['doctor', '--probe', '--image', 'busybox:stable'], 'user')));
  const unresolved = out.resolved.some((r) => r.address !== desired.ip);
  const rootless = desired.dns && unresolved && cli === 'docker' ? await input.engine().then((e) => e.reachable && e.rootless) : false;
  for (const r of out.resolved) {
    if (r.address === desired.ip)
      findings.push(ok('probe', `${r.name} resolves to ${r.address} in the container${desired.dns ? ', through the resolver (no --add-host)' : ''}`));
    else if (desired.dns) {
      const { why, fix } = dnsResolveFailure(input, out.nameservers, { cli, rootless }, input.ctx.backend.dnsService.logs);
      const got = r.address === null ? 'does not resolve' : `resolves to ${r.address}, not the alias ${desired.ip},`;
      findings.push(fail('probe', `${r.name} ${got} in a plain container: ${why}`, fix));
    } else if (r.address === null)
      findings.push(
        fail('probe', `${r.name} does not resolve in the container`, desired.dockerDaemon ? hostalias('up --docker-daemon --restart-docker') : hostalias('up')),
      );
    else
      findings.push(
        fail(
          'probe',
          `${r.name} resolves to ${r.address} in the container, not the alias ${desired.ip}`,
          desired.dockerDaemon ? hostalias('up --docker-daemon --restart-docker') : hostalias('up'),
        ),
      );
  }
  for (const c of out.connections) {
    const target = `${c.name}:${c.port}`;
    if (c.result === 'connected') {
      findings.push(ok('probe', `${target}: connected`));
      continue;
    }
    const kind = c.result === 'refused' || c.result === 'timeout' ? c.result : 'error';
    const why = await input.ctx.backend.doctor.explainFailure(input, c.port, kind);
    const detail =
      kind === 'error'
        ? `${c.result} (${c.detail || 'no message'})`
        : kind === 'refused' && c.detail
          ? `refused (${c.detail})`
          : kind === 'refused'
            ? 'refused'
            : 'timed out';
    findings.push(fail('probe', `${target}: ${detail}${why ? ` — ${why.message}` : ''}`, why?.fix ?? hostalias('doctor', 'root')));
  }
  return findings;
}

/**
 * Starts a short-lived container that resolves every configured name and connects to each port,
 * then reports per name and port. Always removes the container (the caller also removes it on
 * Ctrl-C via `onContainer`). Changes nothing on the host.
 */
export async function runProbe(input: DoctorInput, opts: ProbeOptions): Promise<Finding[]> {
  const { runner } = input.ctx;
  const { hostalias } = input;
  const cli = opts.engine ?? 'docker';
  const say = opts.progress ?? (() => undefined);
  let image = opts.image;
  if (!image) {
    const ls = await runner.run([cli, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'], { timeoutMs: 15_000 });
    if (ls.code !== 0) return [fail('probe', `can't list images: ${(ls.stderr || ls.stdout).trim()}`, 'see the docker findings')];
    image = pickProbeImage(ls.stdout) ?? undefined;
    if (!image) return [warn('probe', 'no small image with a shell (busybox, alpine) exists locally, so nothing was probed', `${cli} pull busybox:stable`)];
  }
  const ports = opts.ports.length > 0 ? opts.ports : await defaultProbePorts(input);
  const name = `hostalias-doctor-${process.pid}-${randomBytes(3).toString('hex')}`;
  opts.onContainer?.(name);
  say(
    `probe: starting ${name} (${image}${opts.network ? ` on network ${opts.network}` : ''}, ${cli}): resolving ${input.desired.names.join(', ')}${ports.length ? `, connecting to port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}` : ''}…`,
  );
  const started = Date.now();
  const ticker = setInterval(() => say(`probe: still running (${Math.round((Date.now() - started) / 1000)} s)…`), 2000);
  let res: RunResult;
  try {
    res = await runner.run([cli, ...probeRunArgs(name, image, input, ports, opts.network)], { timeoutMs: 60_000 });
  } finally {
    clearInterval(ticker);
    await removeProbeContainer(runner, name, cli);
  }
  say(`probe: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const out = parseProbeOutput(res.stdout);
  if (!out.complete) {
    const why = (res.stderr || res.stdout).trim().split('\n').slice(-2).join(' ') || `${cli} run exited ${res.code}`;
    const findings = await probeFindings(input, out, cli);
    return [
      ...findings,
      fail(
        'probe',
        `the probe container did not finish: ${why}`,
        /No such image|pull access denied|image not known/i.test(why)
          ? `${cli} pull ${image}`
          : hostalias(['doctor', '--probe', '--image', 'busybox:stable'], 'user'),
      ),
    ];
  }
  const findings = await probeFindings(input, out, cli);
  if (ports.length === 0)
    findings.push(warn('probe', 'no port was probed: no TCP listener is reachable via the alias', hostalias(['doctor', '--probe', 'PORT'], 'user')));
  return findings;
}
