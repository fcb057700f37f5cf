import { backupPathFor } from '../model/state.js';
import { emptyPlan, type Plan, planNote } from '../model/steps.js';
import { DAEMON_JSON, GATEWAY_KEYS, withGateway, withoutGateway, type GatewayKey } from './daemon-json.js';

export const DAEMON_BACKUP = backupPathFor(DAEMON_JSON);
/** Written instead of a backup when there was no daemon.json, so `down` knows to remove it. */
export const DAEMON_ABSENT_MARKER = `${DAEMON_BACKUP}.absent`;

export const RESTART_ARGV = ['systemctl', 'restart', 'docker'];
export const RESTART_HINT =
  'the Docker daemon reads daemon.json only when it starts: sudo systemctl restart docker (or run hostalias up with --restart-docker); running containers stop unless "live-restore" is on';

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

function restartOrHint(plan: Plan, restart: boolean, why: string): Plan {
  if (plan.steps.length === 0) return plan;
  if (restart) plan.steps.push({ kind: 'run', argv: RESTART_ARGV, service: true, why: `restart the Docker daemon so ${why}` });
  else plan.warnings.push(planNote('docker-restart-needed', RESTART_HINT));
  return plan;
}

/**
 * Converges daemon.json so Docker's `host-gateway` is the alias. Pure; idempotent.
 * `want` null (down, or --no-docker-daemon) puts back the original byte for byte — or, when the
 * user edited the file since (it is neither the original nor what hostalias wrote for
 * `previousIp`), removes only hostalias's key so their edits survive.
 * Throws a usage error for malformed JSON before any step is planned.
 */
export function planDaemonJson(want: DaemonWant | null, previousIp: string | null, obs: DaemonObserved, restart: boolean): Plan {
  const plan = emptyPlan();
  const { current, backup, absentMarker } = obs;
  if (want) {
    const next = withGateway(current, want.ip, want.key);
    if (next === current) return plan;
    if (backup === null && !absentMarker) {
      plan.steps.push(
        current === null
          ? {
              kind: 'write',
              path: DAEMON_ABSENT_MARKER,
              content: `${DAEMON_JSON} did not exist before hostalias up --docker-daemon; hostalias down removes it\n`,
              mode: 0o600,
              before: null,
              why: `remember that ${DAEMON_JSON} did not exist`,
            }
          : { kind: 'write', path: DAEMON_BACKUP, content: current, mode: 0o600, before: null, why: `back up ${DAEMON_JSON} before editing it` },
      );
    }
    plan.steps.push({
      kind: 'write',
      path: DAEMON_JSON,
      content: next,
      mode: 0o644,
      before: current,
      why: `point Docker's host-gateway at ${want.ip} ("${want.key}" in ${DAEMON_JSON})`,
    });
    return restartOrHint(plan, restart, 'host-gateway resolves to the alias');
  }
  if (backup === null && !absentMarker) return plan;
  const original = backup; // null with the marker: there was no file
  const ours = previousIp === null ? [] : GATEWAY_KEYS.map((k) => safeWithGateway(original, previousIp, k)).filter((t): t is string => t !== null);
  const untouched = current === original || (current !== null && ours.includes(current));
  if (untouched && current !== original) {
    plan.steps.push(
      original === null
        ? { kind: 'remove', path: DAEMON_JSON, before: current, why: `remove ${DAEMON_JSON} (it did not exist before hostalias)` }
        : { kind: 'write', path: DAEMON_JSON, content: original, mode: 0o644, before: current, why: `restore ${DAEMON_JSON} as it was before hostalias` },
    );
  } else if (!untouched && current === null) {
    plan.notes.push(planNote('daemon-json-removed', `${DAEMON_JSON} was removed after hostalias changed it; it stays removed`, { path: DAEMON_JSON }));
  } else if (!untouched && current !== null && previousIp !== null) {
    const stripped = withoutGateway(current, previousIp);
    if (stripped !== current)
      plan.steps.push({ kind: 'write', path: DAEMON_JSON, content: stripped, mode: 0o644, before: current, why: `remove host-gateway from ${DAEMON_JSON}` });
    plan.notes.push(
      planNote(
        'daemon-json-edited',
        `${DAEMON_JSON} was edited after hostalias changed it: only hostalias's host-gateway setting is removed, your other edits are kept`,
        {
          path: DAEMON_JSON,
        },
      ),
    );
  }
  const daemonSteps = plan.steps.length;
  if (backup !== null) plan.steps.push({ kind: 'remove', path: DAEMON_BACKUP, before: backup, why: `drop the backup of ${DAEMON_JSON}` });
  if (absentMarker) plan.steps.push({ kind: 'remove', path: DAEMON_ABSENT_MARKER, before: '', why: `drop the note that ${DAEMON_JSON} did not exist` });
  if (daemonSteps === 0) return plan;
  return restartOrHint(plan, restart, 'host-gateway is the default again');
}

function safeWithGateway(text: string | null, ip: string, key: GatewayKey): string | null {
  try {
    return withGateway(text, ip, key);
  } catch {
    return null;
  }
}
