import { emptyPlan, type Plan, type Step, type StepUndo, planNote } from '../../../model/steps.js';
import { firewallUnit, UNITS } from './boot-units.js';
import { IPTABLES_FILE, planIptables, renderIptablesRestore, type IptObserved } from './iptables-rules.js';
import { liveTableCurrent, NFT_FILE, nftDeleteArgv, nftLoadArgv, renderNftRuleset } from './nft-ruleset.js';
import { LOCALNET_SCOPE, planRouteLocalnet, RECORD_PATH, renderRecord, routeLocalnetKey, type FirewallRecord } from './route-localnet.js';
import { defaultFix, type FixCommand } from '../../../model/invocation.js';
import { hasKernelRules, type FirewallSpec } from './spec.js';

export type FirewallBackend = 'nftables' | 'iptables';

/** Everything the firewall planner needs, gathered read-only by `observeFirewall`. */
export interface FirewallObserved {
  /** `nft list table inet hostalias`, null when the table (or nft) is missing. */
  nftListing: string | null;
  /** Our iptables chains; null when iptables is missing. */
  iptables: IptObserved | null;
  /** route_localnet of `all` and of every interface an earlier version set it on. */
  routeLocalnet: Record<string, number>;
  record: FirewallRecord | null;
  /** Contents of the files this part owns (ruleset files, units), by path. */
  files: Record<string, string | null>;
  links: Record<string, string | null>;
  /** Where the tools live on the target, for boot-time commands. */
  paths: { nft: string; iptablesRestore: string; sysctl: string };
  systemdInstalled: boolean;
  /** Why the rules get no boot unit when systemdInstalled is false (for the note). */
  noBootUnitReason?: string;
  systemdRunning: boolean;
  /** The CLI runs with --root: boot artifacts are written, live rules are still loaded here. */
  rootPrefix: string;
  /** Where the saved ruleset is on this machine (under a root: with its links followed inside it); default rootPrefix + the path. */
  nftFile?: string;
}

function write(path: string, content: string, obs: FirewallObserved, why: string, mode = 0o644): Step[] {
  const before = obs.files[path] ?? null;
  return before === content ? [] : [{ kind: 'write', path, content, mode, before, why }];
}

function remove(path: string, obs: FirewallObserved, why: string): Step[] {
  const before = obs.files[path] ?? null;
  return before === null ? [] : [{ kind: 'remove', path, before, why }];
}

function removeNft(obs: FirewallObserved): Step[] {
  const steps: Step[] = [];
  const previous = obs.files[NFT_FILE] ?? null;
  if (obs.nftListing !== null) {
    steps.push({ kind: 'run', argv: nftDeleteArgv(), ...(previous ? { undo: nftRestore(previous) } : {}), why: 'delete the nftables table inet hostalias' });
  }
  return [...steps, ...remove(NFT_FILE, obs, 'remove the saved nftables ruleset')];
}

function removeIptables(obs: FirewallObserved): Step[] {
  return [...(obs.iptables ? planIptables(null, obs.iptables) : []), ...remove(IPTABLES_FILE, obs, 'remove the saved iptables rules')];
}

function installNft(s: FirewallSpec, obs: FirewallObserved): Step[] {
  const content = renderNftRuleset(s);
  const steps = write(NFT_FILE, content, obs, 'save the nftables ruleset (loaded at boot)');
  if (!liveTableCurrent(obs.nftListing, s)) {
    const previous = obs.files[NFT_FILE] ?? null;
    // Rollback: reload what was live before, or delete the table when there was none.
    const undo = obs.nftListing !== null && previous !== null ? nftRestore(previous) : nftDeleteArgv();
    steps.push({
      kind: 'run',
      argv: nftLoadArgv(obs.nftFile ?? `${obs.rootPrefix}${NFT_FILE}`),
      undo,
      why: `load the nftables table inet hostalias (${describe(s)})`,
    });
  }
  return steps;
}

function installIptables(s: FirewallSpec, obs: FirewallObserved): Step[] {
  return [
    ...write(IPTABLES_FILE, renderIptablesRestore(s), obs, 'save the iptables rules (loaded at boot)'),
    ...planIptables(s, obs.iptables ?? { chains: {}, jumps: [] }),
  ];
}

function describe(s: FirewallSpec): string {
  const parts = [
    s.guard ? 'LAN guard' : '',
    s.exposes.length > 0 ? `exposing ${s.exposes.map((e) => `${e.port}/${e.proto}`).join(', ')}` : '',
    s.all ? `exposing every loopback port but ${s.all.keptOut.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join(', ');
}

function bootSteps(
  s: FirewallSpec | null,
  backend: FirewallBackend,
  obs: FirewallObserved,
  localnetBefore: number | undefined,
  hostalias: FixCommand,
): { install: Step[]; uninstall: Step[]; notes: string[] } {
  const svc = (argv: string[], why: string): Step => ({ kind: 'run', argv, service: true, why });
  const link = (path: string, target: string, why: string): Step[] => (obs.links[path] === target ? [] : [{ kind: 'symlink', path, target, why }]);
  const unlink = (path: string, why: string): Step[] => (obs.links[path] == null ? [] : [{ kind: 'remove', path, before: null, why }]);
  // The Docker-network watcher of earlier versions: no longer needed by anything.
  const watcher = [
    ...(obs.systemdRunning && obs.files[UNITS.bridges] != null
      ? [svc(['systemctl', 'stop', 'hostalias-bridges.service'], 'stop the Docker-network watcher (bridges are trusted by kind now)')]
      : []),
    ...unlink(UNITS.bridgesWants, 'disable hostalias-bridges.service'),
    ...remove(UNITS.bridges, obs, 'remove hostalias-bridges.service'),
  ];
  const reload = (steps: Step[], why: string) => (steps.length > 0 && obs.systemdRunning ? [...steps, svc(['systemctl', 'daemon-reload'], why)] : steps);
  if (!s || !obs.systemdInstalled) {
    const uninstall = reload(
      [...watcher, ...unlink(UNITS.firewallWants, 'disable hostalias-firewall.service'), ...remove(UNITS.firewall, obs, 'remove hostalias-firewall.service')],
      'make systemd forget the units',
    );
    return {
      install: [],
      uninstall,
      notes: s
        ? [
            `firewall: the rules are not restored at boot (${obs.noBootUnitReason ?? 'systemd is not installed here'}), so they last until reboot: run \`${hostalias('up')}\` after boot`,
          ]
        : [],
    };
  }
  const load = backend === 'nftables' ? [obs.paths.nft, '-f', NFT_FILE] : [obs.paths.iptablesRestore, '-w', '5', '--noflush', IPTABLES_FILE];
  const unload =
    backend === 'nftables'
      ? [obs.paths.nft, 'delete', 'table', 'inet', 'hostalias']
      : [obs.paths.iptablesRestore.replace(/-restore$/, ''), '-w', '-t', 'raw', '-D', 'PREROUTING', '-j', 'HOSTALIAS-GUARD'];
  const start = [load];
  const stop = [unload];
  if (hasKernelRules(s)) {
    // After the rules (with the 127/8 hardening), as `up` does it.
    start.push([obs.paths.sysctl, '-q', '-w', `${routeLocalnetKey(LOCALNET_SCOPE)}=1`]);
    if (localnetBefore !== undefined && localnetBefore !== 1)
      stop.unshift([obs.paths.sysctl, '-q', '-w', `${routeLocalnetKey(LOCALNET_SCOPE)}=${localnetBefore}`]);
  }
  const install = [
    ...write(UNITS.firewall, firewallUnit(s.ip, start, stop), obs, 'load the firewall rules at boot (hostalias-firewall.service)'),
    ...link(UNITS.firewallWants, UNITS.firewall, 'enable hostalias-firewall.service'),
  ];
  return { install: reload([...install, ...watcher], 'make systemd read the units'), uninstall: [], notes: [] };
}

/**
 * Converges the packet filter, route_localnet and their boot units to `spec` on `backend`;
 * `spec` null removes everything (down, or neither guard nor exposed ports). Order matters:
 * up loads the rules (with the 127/8 hardening) before enabling route_localnet; down restores
 * route_localnet before removing the rules (and a plan that only drops the exposed ports does so too). Pure; idempotent.
 */
export function planFirewall(spec: FirewallSpec | null, backend: FirewallBackend, obs: FirewallObserved, hostalias: FixCommand = defaultFix): Plan {
  const plan = emptyPlan();
  const wantedLocalnet = spec && hasKernelRules(spec) ? [LOCALNET_SCOPE] : [];
  const localnet = planRouteLocalnet(wantedLocalnet, obs.routeLocalnet, obs.record?.routeLocalnet ?? {});
  const boot = bootSteps(spec, backend, obs, localnet.record[LOCALNET_SCOPE], hostalias);
  plan.notes.push(...boot.notes.map((n) => planNote('firewall-boot', n)));
  const bridges = spec?.engineBridges ? { bridges: spec.engineBridges } : {};
  const record: FirewallRecord = { backend, routeLocalnet: localnet.record, ...bridges };
  const removeOther = spec === null ? [...removeNft(obs), ...removeIptables(obs)] : backend === 'nftables' ? removeIptables(obs) : removeNft(obs);
  if (spec) {
    const install = backend === 'nftables' ? installNft(spec, obs) : installIptables(spec, obs);
    // Turning route_localnet on waits for the hardening rules; turning it off goes first.
    const [before, after] = wantedLocalnet.length > 0 ? [[], localnet.steps] : [localnet.steps, []];
    // The record must name every value hostalias changed for as long as it is changed: a value
    // is recorded before it is set, and forgotten only once it is restored (a run killed between
    // the two then still restores it on the next down). So the record first grows to hold the
    // old and new entries, and shrinks to the new ones after the sysctl steps.
    const held: FirewallRecord = { backend, routeLocalnet: { ...obs.record?.routeLocalnet, ...localnet.record }, ...bridges };
    const first = write(RECORD_PATH, renderRecord(held), obs, 'record route_localnet values to restore on down', 0o600);
    const finalText = renderRecord(record);
    const heldText = renderRecord(held);
    const last: Step[] =
      finalText === heldText
        ? []
        : [{ kind: 'write', path: RECORD_PATH, content: finalText, mode: 0o600, before: heldText, why: 'forget the route_localnet values restored' }];
    const [shrinkEarly, shrinkLate] = after.length > 0 ? [[], last] : [last, []];
    plan.steps.push(...first, ...before, ...shrinkEarly, ...removeOther, ...install, ...after, ...shrinkLate, ...boot.install);
  } else {
    // Down: the record goes last, after every value it names was restored.
    const keep = Object.keys(localnet.record).length > 0;
    const recordSteps = keep
      ? write(RECORD_PATH, renderRecord(record), obs, 'record route_localnet values to restore on down', 0o600)
      : remove(RECORD_PATH, obs, 'drop the firewall record');
    plan.steps.push(...boot.uninstall, ...localnet.steps, ...removeOther, ...recordSteps);
  }
  return plan;
}

/** Reloads a saved ruleset from stdin: the undo that puts back what was live before. */
function nftRestore(ruleset: string): StepUndo {
  return { kind: 'run', argv: ['nft', '-f', '-'], input: ruleset };
}
