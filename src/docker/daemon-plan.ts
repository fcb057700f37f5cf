import { backupPathFor } from '../model/state.js';
import { emptyPlan, type FileOwner, type Plan, planNote, type Step } from '../model/steps.js';
import {
  DAEMON_JSON,
  GATEWAY_KEYS,
  gatewayOf,
  ourDns,
  parseDaemonJson,
  withDns,
  withGateway,
  withoutDns,
  withoutGateway,
  type GatewayKey,
} from './daemon-json.js';

export const DAEMON_BACKUP = backupPathFor(DAEMON_JSON);
/** Written instead of a backup when there was no daemon.json, so `down` knows to remove it. */
export const DAEMON_ABSENT_MARKER = `${DAEMON_BACKUP}.absent`;

export const RESTART_ARGV = ['systemctl', 'restart', 'docker'];
/**
 * Said when daemon.json changed and the daemon was not restarted. Only the restart itself: `up
 * --restart-docker` run afterwards finds daemon.json as it wants it, plans no step and so
 * restarts nothing.
 */
export const RESTART_HINT =
  'the Docker daemon reads daemon.json only when it starts: sudo systemctl restart docker; running containers stop unless "live-restore" is on';

export interface DaemonObserved {
  /** /etc/docker/daemon.json now (null: absent). */
  current: string | null;
  /** The original kept by the first `up` (null: none). */
  backup: string | null;
  absentMarker: boolean;
}

export interface DaemonWant {
  ip: string;
  key: GatewayKey;
}

/** Which daemon.json this is: the system's (default), or a rootless engine's, written as its user. */
/**
 * The step that keeps what `path` was before hostalias first edits it, for `down` to put back: a
 * marker saying it did not exist, else a copy of it. Pure.
 */
export function keepOriginalStep(path: string, current: string | null, file: { backup: string; marker: string }): Step {
  return current === null
    ? {
        kind: 'write',
        path: file.marker,
        content: `${path} did not exist before hostalias changed it; hostalias down removes it\n`,
        mode: 0o600,
        before: null,
        why: `remember that ${path} did not exist`,
      }
    : { kind: 'write', path: file.backup, content: current, mode: 0o600, before: null, why: `back up ${path} before editing it` };
}

export interface DaemonFile {
  path: string;
  backup: string;
  marker: string;
  owner?: FileOwner;
  /** The step that makes the daemon read the file again (null: none hostalias can run), and the hint otherwise. */
  restart: { argv: string[] | null; hint: string };
}

export const SYSTEM_DAEMON_FILE: DaemonFile = {
  path: DAEMON_JSON,
  backup: DAEMON_BACKUP,
  marker: DAEMON_ABSENT_MARKER,
  restart: { argv: RESTART_ARGV, hint: RESTART_HINT },
};

/** The settings hostalias keeps in a daemon.json: host-gateway (`--docker-daemon`) and "dns" (`--dns`). */
interface Settings {
  gateway: DaemonWant | null;
  dns: string[] | null;
}

/** `original` with `s` applied (nothing applied: the original's bytes). Throws for malformed JSON. Pure. */
function applySettings(original: string | null, s: Settings, path: string): string | null {
  let text = original;
  if (s.gateway) text = withGateway(text, s.gateway.ip, s.gateway.key, path);
  if (s.dns) text = withDns(text, s.dns, path);
  return text;
}

/** The settings of hostalias's that `current` holds, read from the file (keys whose value is the alias `ip`). Pure. */
function settingsIn(current: string | null, ip: string | null, path: string): Settings {
  if (current === null || ip === null) return { gateway: null, dns: null };
  let obj: Record<string, unknown>;
  try {
    obj = parseDaemonJson(current, path);
  } catch {
    return { gateway: null, dns: null };
  }
  const key = GATEWAY_KEYS.find((k) => JSON.stringify(obj[k]) === JSON.stringify(k === 'host-gateway-ips' ? [ip] : ip));
  return { gateway: key ? { ip, key } : null, dns: ourDns(current, ip, path) };
}

/**
 * The alias address hostalias wrote into `current`, read from the file itself: `previousIp` (the
 * recorded state's) when the file holds a setting of it; else the host-gateway address, or the
 * first "dns" server, that the original does not have. A state can't tell: after an `--ip` move
 * killed half-way the file may hold the old or the new address, and without state.json there is
 * no previous address at all. Null: none. Pure.
 */
function addressIn(current: string | null, previousIp: string | null, original: string | null, path: string): string | null {
  const fromState = settingsIn(current, previousIp, path);
  if (previousIp !== null && (fromState.gateway || fromState.dns)) return previousIp;
  const gateway = gatewayOf(current, path);
  if (gateway && JSON.stringify(gatewayOf(original, path)) !== JSON.stringify(gateway)) return gateway.ip;
  let dns: unknown;
  let theirs: unknown;
  try {
    dns = parseDaemonJson(current, path)['dns'];
    theirs = parseDaemonJson(original, path)['dns'];
  } catch {
    return previousIp;
  }
  if (Array.isArray(dns) && typeof dns[0] === 'string' && JSON.stringify(dns) !== JSON.stringify(theirs)) return dns[0];
  return previousIp;
}

function safeApply(original: string | null, s: Settings, path: string): string | null | undefined {
  try {
    return applySettings(original, s, path);
  } catch {
    return undefined;
  }
}

function restartOrHint(plan: Plan, file: DaemonFile, restart: boolean, why: string): Plan {
  if (plan.steps.length === 0) return plan;
  if (restart && file.restart.argv) plan.steps.push({ kind: 'run', argv: file.restart.argv, service: true, why: `restart the Docker daemon so ${why}` });
  else plan.warnings.push(planNote('docker-restart-needed', file.restart.hint, { path: file.path }));
  return plan;
}

/**
 * Converges daemon.json so Docker's `host-gateway` is the alias (`want`) and, with `opts.dns`,
 * containers ask the resolver first (`"dns"`). Pure; idempotent.
 * While the file is as hostalias left it, it is computed from the original (kept by the first
 * change) each time, so taking a setting back gives the bytes that setting alone would have given,
 * and taking both back gives the original byte for byte. When the user edited the file since, only
 * hostalias's keys are changed (put back as the original had them) and their edits survive. Which
 * address is hostalias's is read from the file (addressIn), `previousIp` being only the first
 * guess; the backup (or the note that there was no file) is dropped in the same plan as the
 * restore, after it, so never while the file still holds hostalias's setting.
 * Throws a usage error for malformed JSON before any step is planned.
 */
export function planDaemonJson(
  want: DaemonWant | null,
  previousIp: string | null,
  obs: DaemonObserved,
  restart: boolean,
  opts: { dns?: string[] | null; file?: DaemonFile } = {},
): Plan {
  const file = opts.file ?? SYSTEM_DAEMON_FILE;
  const { path } = file;
  const owner = file.owner ? { owner: file.owner } : {};
  const plan = emptyPlan();
  const { current, backup, absentMarker } = obs;
  const wanted: Settings = { gateway: want, dns: opts.dns ?? null };
  const saved = backup !== null || absentMarker;
  const original = backup; // null with the marker: there was no file
  const ours = saved ? addressIn(current, previousIp, original, path) : previousIp;
  const before = settingsIn(current, ours, path);
  const untouched = saved && (current === original || (current !== null && safeApply(original, before, path) === current));
  const what = [wanted.gateway || before.gateway ? 'host-gateway' : null, wanted.dns || before.dns ? '"dns"' : null].filter((w) => w !== null).join(' and ');
  if (wanted.gateway || wanted.dns) {
    const next = untouched
      ? applySettings(original, wanted, path)
      : (() => {
          let text = current;
          if (text !== null && ours !== null && !wanted.gateway) text = withoutGateway(text, ours, path, original);
          if (text !== null && ours !== null && !wanted.dns) text = withoutDns(text, ours, original, path);
          return applySettings(text, wanted, path);
        })();
    if (next === current || next === null) return plan;
    if (!saved) {
      plan.steps.push(keepOriginalStep(path, current, file));
    }
    const why = [
      wanted.gateway ? `point Docker's host-gateway at ${wanted.gateway.ip} ("${wanted.gateway.key}")` : null,
      wanted.dns ? `make containers ask ${wanted.dns[0]} first ("dns": ${wanted.dns.join(', ')})` : null,
    ]
      .filter((w) => w !== null)
      .join(' and ');
    plan.steps.push({ kind: 'write', path, content: next, mode: 0o644, before: current, why: `${why} in ${path}`, ...owner });
    return restartOrHint(plan, file, restart, wanted.dns ? 'new containers use the resolver' : 'host-gateway resolves to the alias');
  }
  if (!saved) return plan;
  if (untouched && current !== original) {
    plan.steps.push(
      original === null
        ? { kind: 'remove', path, before: current, why: `remove ${path} (it did not exist before hostalias)`, ...owner }
        : { kind: 'write', path, content: original, mode: 0o644, before: current, why: `restore ${path} as it was before hostalias`, ...owner },
    );
  } else if (!untouched && current === null) {
    plan.notes.push(planNote('daemon-json-removed', `${path} was removed after hostalias changed it; it stays removed`, { path }));
  } else if (!untouched && current !== null && ours !== null) {
    const stripped = withoutDns(withoutGateway(current, ours, path, original), ours, original, path);
    if (stripped !== current)
      plan.steps.push({ kind: 'write', path, content: stripped, mode: 0o644, before: current, why: `remove ${what || 'host-gateway'} from ${path}`, ...owner });
    plan.notes.push(
      planNote(
        'daemon-json-edited',
        `${path} was edited after hostalias changed it: only hostalias's ${what || 'host-gateway'} setting is removed, your other edits are kept`,
        { path },
      ),
    );
  }
  const daemonSteps = plan.steps.length;
  const dropped: Step[] = [];
  if (backup !== null) dropped.push({ kind: 'remove', path: file.backup, before: backup, why: `drop the backup of ${path}` });
  if (absentMarker) dropped.push({ kind: 'remove', path: file.marker, before: '', why: `drop the note that ${path} did not exist` });
  plan.steps.push(...dropped);
  if (daemonSteps === 0) return plan;
  return restartOrHint(plan, file, restart, before.dns ? 'containers stop asking the resolver' : 'host-gateway is the default again');
}
