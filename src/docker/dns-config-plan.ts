import { emptyPlan, type FileOwner, type Plan, planNote } from '../model/steps.js';
import { type DaemonObserved, keepOriginalStep } from './daemon-plan.js';

/** A configuration file whose DNS servers `up --dns` sets, and where its original is kept. */
export interface DnsConfigFile {
  path: string;
  backup: string;
  marker: string;
  /** A user's own file (rootless engines): written with their rights. */
  owner?: FileOwner;
}

/** How to read and change the servers in one format (containers.conf's TOML). */
export interface DnsCodec {
  /** `text` with the servers set; throws a usage error for a malformed file. */
  apply(text: string | null, servers: readonly string[]): string;
  /** The servers hostalias set (led by the alias `ip`), else null. */
  ours(text: string | null, ip: string | null): string[] | null;
  /** `text` without hostalias's servers (the original's own put back). */
  strip(text: string, ip: string, original: string | null): string;
}

/**
 * Converges one engine's DNS setting to `want` (null: hostalias's setting gone). While the file is
 * as hostalias left it, it is computed from the original kept by the first change, so `--no-dns`
 * and `down` give the original back byte for byte; when the user edited it since, only the
 * setting is changed and their edits survive. Pure; planning again after apply returns no steps.
 */
export function planDnsConfig(file: DnsConfigFile, codec: DnsCodec, want: string[] | null, previousIp: string | null, obs: DaemonObserved): Plan {
  const plan = emptyPlan();
  const owner = file.owner ? { owner: file.owner } : {};
  const { current, backup, absentMarker } = obs;
  const saved = backup !== null || absentMarker;
  const original = backup;
  const before = codec.ours(current, previousIp);
  let untouched = saved && current === original;
  if (saved && !untouched && current !== null && before) {
    try {
      untouched = codec.apply(original, before) === current;
    } catch {
      untouched = false;
    }
  }
  if (want) {
    const next = untouched ? codec.apply(original, want) : codec.apply(current, want);
    if (next === current) return plan;
    if (!saved) {
      plan.steps.push(keepOriginalStep(file.path, current, file));
    }
    plan.steps.push({
      kind: 'write',
      path: file.path,
      content: next,
      mode: 0o644,
      before: current,
      why: `make new containers ask ${want[0]} first (dns_servers: ${want.join(', ')} in ${file.path})`,
      ...owner,
    });
    return plan;
  }
  if (!saved) return plan;
  if (untouched && current !== original) {
    plan.steps.push(
      original === null
        ? { kind: 'remove', path: file.path, before: current, why: `remove ${file.path} (it did not exist before hostalias)`, ...owner }
        : { kind: 'write', path: file.path, content: original, mode: 0o644, before: current, why: `restore ${file.path} as it was before hostalias`, ...owner },
    );
  } else if (!untouched && current === null) {
    plan.notes.push(planNote('dns-config-removed', `${file.path} was removed after hostalias changed it; it stays removed`, { path: file.path }));
  } else if (!untouched && current !== null && previousIp !== null) {
    const stripped = codec.strip(current, previousIp, original);
    if (stripped !== current)
      plan.steps.push({
        kind: 'write',
        path: file.path,
        content: stripped,
        mode: 0o644,
        before: current,
        why: `remove hostalias's DNS servers from ${file.path}`,
        ...owner,
      });
    plan.notes.push(
      planNote('dns-config-edited', `${file.path} was edited after hostalias changed it: only hostalias's DNS servers are removed, your other edits are kept`, {
        path: file.path,
      }),
    );
  }
  if (backup !== null) plan.steps.push({ kind: 'remove', path: file.backup, before: backup, why: `drop the backup of ${file.path}` });
  if (absentMarker) plan.steps.push({ kind: 'remove', path: file.marker, before: '', why: `drop the note that ${file.path} did not exist` });
  return plan;
}
