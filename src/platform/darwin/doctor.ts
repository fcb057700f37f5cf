import { dockerCheck } from '../../doctor/check-docker.js';
import { dockerDesktopCheck } from '../../doctor/check-docker-desktop.js';
import { HostaliasError } from '../../model/errors.js';
import type { DoctorPlatform } from '../../model/context.js';
import { fail, ok, warn } from '../../model/finding.js';
import type { Check, Finding } from '../../model/context.js';
import type { Step } from '../../model/steps.js';
import { currentRuntime } from '../../exec/runtime.js';
import { FLAVOUR_NAMES } from '../../model/engine.js';
import { macExposeCheck } from './expose-check.js';
import { forwardLabel, observeForwardJobs, planForwardJobs } from './forward-launchd.js';
import { managedForwards } from '../../model/expose.js';
import { listLo0 } from './ifconfig.js';
import { observeVmRoute, vmnetBridge } from './engines.js';
import { aliasJob, ALIAS_JOB_LABEL, observeJob, PF_JOB_LABEL, planJob, plistPathFor } from './launchd.js';
import { DNS_JOB_LABEL, DNS_JOB_LOG } from './dns-launchd.js';
import { DNS_CHECK_ID, judgeResolvConf, judgeResolver, observeResolvConf, observeResolver, type ResolverService } from '../../doctor/check-dns.js';
import { askPf, pfText } from './parts.js';
import {
  anchorFileContent,
  guardRules,
  hasAppleRdrAnchor,
  parsePfEnabled,
  parseRuleCounters,
  parseRules,
  parseSkippedIfaces,
  PF_ANCHOR,
  PF_ANCHOR_FILE,
  pfDesiredOf,
  pfJob,
  rdrRule,
} from './pf.js';

/** `alias`: the alias is on lo0 as a /32 and is the address the state records. */
export const macAliasCheck: Check = {
  id: 'alias',
  async run({ ctx, desired, state, hostalias }) {
    const ip = desired.ip;
    const onLo0 = (await listLo0(ctx.runner)).find((a) => a.family === 'inet' && a.local === ip);
    const up = hostalias('up');
    if (!onLo0) {
      const why = state ? 'hostalias set it up, but it is gone (removed by hand, or a reboot without persistence?)' : 'hostalias is not set up on this Mac';
      return [fail('alias', `${ip} is not on lo0: ${why}`, up)];
    }
    if (onLo0.prefixlen !== 32) {
      return [
        fail(
          'alias',
          `${ip} is on lo0 as /${onLo0.prefixlen} (added without "netmask 255.255.255.255"), not the /32 hostalias manages`,
          `${up}  # replaces it with the /32`,
        ),
      ];
    }
    if (!state) return [warn('alias', `${ip}/32 is on lo0 but hostalias has no record of it (no state file)`, up)];
    return [ok('alias', `${ip}/32 is on lo0, as recorded`)];
  },
};

/** One finding per step the launchd planner would take: a plist missing or changed, a job not loaded. */
function jobFindings(steps: readonly Step[], what: string, fix: string): Finding[] {
  const findings: Finding[] = [];
  for (const step of steps) {
    if (step.kind === 'run' && step.argv[1] === 'enable') {
      const label = (step.argv[2] ?? '').replace(/^system\//, '');
      findings.push(
        fail(
          'persistence',
          `${label} is installed but disabled in launchd (launchctl print-disabled system), so it does not run at boot: ${what}; on macOS 13+ it may have been switched off under System Settings → General → Login Items`,
          `sudo launchctl enable system/${label}   (or switch it on again under Login Items → Allow in the Background)`,
        ),
      );
    } else if (step.kind === 'write') {
      const detail = step.before === null ? `${step.path} is missing` : `${step.path} differs from what hostalias writes (edited by hand?)`;
      findings.push(fail('persistence', `${detail}: ${what}`, fix));
    } else if (step.kind === 'run' && step.argv[1] === 'bootstrap' && !steps.some((s) => s.kind === 'write')) {
      findings.push(fail('persistence', `${step.argv[3]} is not loaded in launchd: ${what}`, `sudo launchctl bootstrap system ${step.argv[3]}`));
    } else if (step.kind === 'remove' || (step.kind === 'run' && step.argv[1] === 'bootout' && !steps.some((s) => s.kind === 'write'))) {
      findings.push(warn('persistence', `${step.kind === 'remove' ? step.path : step.argv[2]} is left over from an earlier setup`, fix));
    }
  }
  return findings;
}

/**
 * `persistence`: every LaunchDaemon hostalias installed is on disk byte for byte as the planner
 * would write it and loaded in launchd — the alias job, each relay — and the pf boot job and the
 * anchor file it loads are in place (placed, not loaded: pf itself is checked by `pf`). Reuses the planners: any step
 * they would take is a finding (a deleted plist is a `write`, an unloaded job a `bootstrap`).
 */
export const macPersistenceCheck: Check = {
  id: 'persistence',
  async run({ ctx, state, desired, hostalias }) {
    const up = hostalias('up');
    if (!state) return [warn('persistence', 'nothing is persisted: hostalias is not set up', up)];
    const findings: Finding[] = [];
    const relays = managedForwards(desired);
    try {
      if (state.persistence?.kind === 'launchd') {
        const steps = planJob(aliasJob(desired.ip), await observeJob(ctx, ALIAS_JOB_LABEL), { load: true });
        findings.push(...jobFindings(steps, `launchd would not add ${desired.ip} to lo0 at boot`, up));
      } else {
        findings.push(
          warn(
            'persistence',
            `the alias is not persisted (${state.persistence?.reason ?? '--persist none'}): it disappears at the next reboot`,
            hostalias('up --persist launchd'),
          ),
        );
      }
      // The LAN guard and --keep-source redirects at boot: the pf job reloads the anchor file (pf
      // forgets its rules at every boot). Compared like the alias job; the pf job is placed, not loaded.
      const pf = pfDesiredOf(desired, state.persistence?.kind === 'launchd');
      if (pf) {
        const after = 'after the next reboot neither the LAN guard nor the redirects would be in pf';
        const file = await ctx.fs.read(PF_ANCHOR_FILE);
        if (file !== anchorFileContent(pf.ip, pf.exposes, pf.guard))
          findings.push(
            fail(
              'persistence',
              `${PF_ANCHOR_FILE} ${file === null ? 'is missing' : 'differs from what hostalias writes (edited by hand?)'}: ${pf.persist ? after : 'the rules loaded now have no copy to undo from'}`,
              up,
            ),
          );
        if (pf.persist) findings.push(...jobFindings(planJob(pfJob(), await observeJob(ctx, PF_JOB_LABEL), { load: false }), after, up));
      }
      // The relays: `forward --install` ones and those carrying an expose, planned alike.
      const obs = await observeForwardJobs(ctx, relays.map(forwardLabel));
      findings.push(
        ...jobFindings(
          planForwardJobs({ ip: desired.ip, forwards: relays }, obs, currentRuntime()).steps,
          'a relay (an exposed port, or forward --install) is not running as installed',
          hostalias('up'),
        ),
      );
    } catch (err) {
      if (err instanceof HostaliasError) return [fail('persistence', err.message, err.fix ?? up)];
      throw err;
    }
    if (findings.length > 0) return findings;
    const pfBoot = pfDesiredOf(desired, state.persistence?.kind === 'launchd')?.persist ? `; ${PF_JOB_LABEL} and ${PF_ANCHOR_FILE} in place for boot` : '';
    return [ok('persistence', `launchd: ${ALIAS_JOB_LABEL}${relays.length ? ` and ${relays.length} relay job(s)` : ''} installed, intact and loaded${pfBoot}`)];
  },
};

/**
 * `pf`: what the LAN guard and --keep-source redirects need from pf: pf enabled, the main ruleset
 * still hooking in com.apple's child anchors (`rdr-anchor` and `anchor "com.apple/*"`), lo0 not in
 * pf's skip list (`set skip on lo0` disables every rule on lo0), our anchor holding exactly our
 * rules, and each redirect's counters (has it ever fired?). pfctl needs root; as a user the check
 * says so instead of guessing.
 */
export const macPfCheck: Check = {
  id: 'pf',
  async run(input) {
    const { ctx, desired, hostalias } = input;
    const want = pfDesiredOf(desired, false);
    if (!want) return [ok('pf', 'no pf rules wanted (--no-lan-guard, no --keep-source expose)')];
    const redirects = want.exposes;
    const info = await askPf(ctx, ['-s', 'info']);
    if ('denied' in info)
      return [warn('pf', 'pf can only be read by root (/dev/pf): the LAN guard and redirects were not checked', hostalias('doctor', 'root'))];
    if ('error' in info) return [fail('pf', `pfctl -s info failed: ${info.error}`, hostalias('doctor', 'root'))];
    const findings: Finding[] = [];
    if (!parsePfEnabled(info.text)) findings.push(fail('pf', 'pf is disabled: neither the LAN guard nor the redirects apply', hostalias('up')));
    const mainNat = pfText(await askPf(ctx, ['-s', 'nat']));
    const mainRules = pfText(await askPf(ctx, ['-s', 'rules']));
    if (redirects.length > 0 && !hasAppleRdrAnchor(mainNat)) {
      findings.push(
        fail(
          'pf',
          `the main pf ruleset has no rdr-anchor "com.apple/*": the redirects in ${PF_ANCHOR} are never evaluated`,
          "restore the rdr-anchor line of macOS's default /etc/pf.conf, then sudo pfctl -f /etc/pf.conf",
        ),
      );
    }
    if (want.guard && !/^anchor "com\.apple\/\*"/m.test(mainRules)) {
      findings.push(
        fail(
          'pf',
          `the main pf ruleset has no anchor "com.apple/*": the LAN guard in ${PF_ANCHOR} is never evaluated`,
          "restore the anchor line of macOS's default /etc/pf.conf, then sudo pfctl -f /etc/pf.conf",
        ),
      );
    }
    const ifaces = pfText(await askPf(ctx, ['-v', '-s', 'Interfaces']));
    if (parseSkippedIfaces(ifaces).includes('lo0')) {
      findings.push(
        fail(
          'pf',
          '/etc/pf.conf has `set skip on lo0`: pf evaluates no rule on lo0, so the redirects (rdr on lo0) never fire',
          `remove "set skip on lo0" from /etc/pf.conf and run sudo pfctl -f /etc/pf.conf, or ${hostalias('expose PORT')} without --keep-source (the relay needs no pf)`,
        ),
      );
    }
    const counters = parseRuleCounters(pfText(await askPf(ctx, ['-a', PF_ANCHOR, '-v', '-s', 'nat'])));
    const filter = pfText(await askPf(ctx, ['-a', PF_ANCHOR, '-s', 'rules']));
    const loaded = [...counters.map((r) => r.rule), ...parseRules(filter)];
    // Not pfRulesFor: that sorts the redirects, and the finding lists missing ones in the order they were exposed.
    const wanted = [...redirects.map((e) => rdrRule(want.ip, e)), ...(want.guard ? guardRules(want.ip, want.guard) : [])];
    const missing = wanted.filter((r) => !loaded.includes(r));
    if (missing.length > 0)
      findings.push(fail('pf', `the anchor ${PF_ANCHOR} lacks ${missing.length} rule(s) hostalias loads: ${missing.join('; ')}`, hostalias('up')));
    // Packets, not Evaluations: pf counts an evaluation for every packet that reaches the rule on any
    // interface (pf_match_translation), a packet only when the rule translated it (see rdrPackets).
    for (const c of counters.filter((r) => wanted.includes(r.rule))) {
      if (c.packets === 0)
        findings.push(
          warn(
            'pf',
            `no connection has been redirected yet by: ${c.rule} (Packets 0); if containers can't connect, the rule doesn't fire here`,
            `nc -z ${desired.ip} ${/port = (\d+)/.exec(c.rule)?.[1] ?? 'PORT'}; sudo pfctl -a ${PF_ANCHOR} -v -s nat   (its Packets counter must rise)`,
          ),
        );
      else findings.push(ok('pf', `redirect translated ${c.packets} packet(s) (${c.states} connection state(s) open): ${c.rule}`));
    }
    if (findings.every((f) => f.status === 'ok'))
      findings.unshift(
        ok('pf', `pf enabled; ${PF_ANCHOR} holds the LAN guard${redirects.length ? ` and ${redirects.length} redirect(s)` : ''}; lo0 is not skipped`),
      );
    return findings;
  },
};

/**
 * `engine`: what reaches this Mac from containers, by the product serving the engine. Each
 * carries a container's connection to the host its own way, so each gets its own advice:
 * - Docker Desktop, OrbStack: their host-side proxy connects from this Mac over lo0.
 * - Colima, Lima: the VM's default route decides (engines.ts VmRoute): the user-mode network
 *   (the host agent dials from this Mac, lo0), or a vmnet/vzNAT bridge when Colima's
 *   preferredRoute or a Lima network with a lower metric takes the default route. Only then is
 *   the bridge to be trusted.
 * - Rancher Desktop: a vzNAT network (VZ) or socket_vmnet ones (administrative access) with Lima's
 *   default metric 100 (backend/lima.ts), which take the default route.
 * - Podman machine: gvproxy dials from this Mac (gvisor-tap-vsock forwarder/tcp.go) over lo0.
 */
export const macEngineCheck: Check = {
  id: 'engine',
  async run(input) {
    const engine = await input.engine();
    if (!engine.reachable) return [];
    const ip = input.desired.ip;
    const name = FLAVOUR_NAMES[engine.flavour];
    const seen = `${name} (${engine.flavourReason})`;
    const trust = (why: string, bridge: string) =>
      warn(
        'engine',
        `${why}: container traffic to ${ip} arrives on ${bridge}, not lo0: the LAN guard drops it unless that bridge is trusted, and an rdr on lo0 (--keep-source) does not apply there (exposed ports then need the relay, the default)`,
        input.hostalias(`up --allow-iface ${bridge}`),
      );
    const trusted = (iface: string) => input.desired.allowIfaces.includes(iface);
    switch (engine.flavour) {
      case 'desktop':
      case 'orbstack':
        return [
          ok(
            'engine',
            `${seen}: containers reach ${ip} through its host-side proxy, which connects from this Mac over lo0; host.docker.internal stays ${name}'s own (it reaches this Mac's 127.0.0.1), so hostalias does not override it by default`,
          ),
        ];
      case 'colima':
      case 'lima': {
        const vm = await observeVmRoute(input.ctx, engine.flavour);
        const userMode = `containers reach ${ip} through the VM's user-mode network, whose host agent connects from this Mac over lo0; host.docker.internal stays ${name}'s (host.lima.internal, this Mac's 127.0.0.1)`;
        if (vm && !vm.route.bridged) return [ok('engine', `${seen}: ${userMode} (${vm.route.why}, ${vm.file})`)];
        if (vm) {
          const bridge = await vmnetBridge(input.ctx);
          if (trusted(bridge)) return [ok('engine', `${seen}: ${vm.route.why} (${vm.file}); ${bridge} is trusted (--allow-iface)`)];
          return [trust(`${seen}: ${vm.route.why} (${vm.file})`, bridge)];
        }
        const setting =
          engine.flavour === 'colima'
            ? 'unless `colima start --network-preferred-route` (network.preferredRoute in colima.yaml) makes the VM network the default route: then trust its bridge with'
            : 'unless a `networks:` entry of the instance has a metric below 200 (Lima gives one 100 by default): then trust its bridge with';
        return [ok('engine', `${seen}: ${userMode}, ${setting} ${input.hostalias('up --allow-iface bridge100')} (its configuration could not be read here)`)];
      }
      case 'rancher': {
        // backend/lima.ts: a vzNAT network (VZ) or socket_vmnet ones (administrative access), with
        // Lima's default metric 100; only a QEMU VM without administrative access has none.
        const bridge = await vmnetBridge(input.ctx);
        if (trusted(bridge)) return [ok('engine', `${seen}: its VM network's bridge ${bridge} is trusted (--allow-iface)`)];
        return [
          trust(
            `${seen}: Rancher Desktop gives its VM a vzNAT network (VZ) or socket_vmnet networks (administrative access) with metric 100, below the user-mode network's 200, so they take its default route (only a QEMU VM without administrative access keeps the user-mode network, which connects from this Mac over lo0)`,
            bridge,
          ),
        ];
      }
      case 'podman':
        return [
          ok(
            'engine',
            `${seen}: Podman machine's gvproxy carries containers' connections to this Mac and opens them from the Mac itself, so they reach ${ip} over lo0 (the LAN guard and --keep-source apply); host.docker.internal stays gvproxy's (192.168.127.254, this Mac's 127.0.0.1)`,
          ),
        ];
      default:
        return [ok('engine', seen)];
    }
  },
};

/**
 * `dns` on macOS: with `up --dns`, the resolver's LaunchDaemon answers on the alias and resolv.conf
 * gives it servers. No engine here reads a DNS setting on the Mac (they run in VMs), so none is checked.
 */
export const macDnsCheck: Check = {
  id: DNS_CHECK_ID,
  async run(input) {
    if (!input.desired.dns) return [];
    const job = await observeJob(input.ctx, DNS_JOB_LABEL);
    const plist = plistPathFor(DNS_JOB_LABEL);
    const service: ResolverService = {
      name: DNS_JOB_LABEL,
      installed: job.file !== null,
      running: job.loaded,
      restart: `sudo launchctl kickstart -k system/${DNS_JOB_LABEL} || sudo launchctl bootstrap system ${plist}`,
      logs: `tail -n 50 ${DNS_JOB_LOG}`,
      // What the LaunchDaemon runs; any user may bind port 53 on macOS 10.14 and later.
      foreground: `${input.hostalias(['resolver', '--listen', input.desired.ip], 'user')}   # keep it running: Ctrl-C stops it`,
    };
    const [resolver, resolvConf] = await Promise.all([observeResolver(input, service), observeResolvConf(input)]);
    return [...judgeResolver(resolver, input.desired, input.hostalias), ...judgeResolvConf(resolvConf, input.desired.ip)];
  },
};

/** macOS's doctor: lo0, launchd, pf, the relays, and the shared Docker checks. No /proc, no Linux packet filter. */
export const darwinDoctor: DoctorPlatform = {
  checks: [macAliasCheck, macPersistenceCheck, macPfCheck, macExposeCheck, dockerCheck, dockerDesktopCheck, macEngineCheck, macDnsCheck],
  async startEngineFix(input) {
    // macOS has no system dockerd: the engine is a VM that its app or CLI starts.
    const host = input.ctx.env['DOCKER_HOST']?.trim() ?? '';
    if (host.includes('colima')) return 'colima start';
    if (host.includes('orbstack')) return 'open -a OrbStack';
    if (host.includes('.rd/')) return 'open -a "Rancher Desktop"';
    if (host.includes('.lima/')) return 'limactl start';
    return 'open -a Docker   (start Docker Desktop; with Colima: colima start; with OrbStack: open -a OrbStack; Rancher Desktop: open -a "Rancher Desktop")';
  },
  async reachablePorts(input) {
    return input.desired.exposes.filter((e) => e.proto === 'tcp').map((e) => e.port);
  },
  async explainFailure(input, port) {
    const e = input.desired.exposes.find((x) => x.proto === 'tcp' && x.port === port);
    if (!e)
      return {
        message: `port ${port} is not exposed: a service on 127.0.0.1 only is not reachable at ${input.desired.ip}`,
        fix: input.hostalias(`expose ${port}`),
      };
    return null;
  },
};
