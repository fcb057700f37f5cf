import { readLiveFile } from '../../fs/system-fs.js';
import type { Context } from '../../model/context.js';
import type { Part } from '../../model/context.js';
import { emptyPlan, planNote } from '../../model/steps.js';
import { ok, warn } from '../../model/finding.js';
import type { Check, Finding } from '../../model/context.js';

export const WSL_CONF = '/etc/wsl.conf';

/** Facts that tell WSL 2 apart from other Linux. */
export interface WslProbes {
  /** /proc/sys/kernel/osrelease of the live kernel; null under --root or when unreadable. */
  osrelease: string | null;
  env: Record<string, string | undefined>;
  /** /etc/wsl.conf of the target, null when absent. */
  wslConf: string | null;
}

export interface WslInfo {
  wsl: boolean;
  version: 1 | 2 | null;
  /** Why we think so (`osrelease 5.15.153.1-microsoft-standard-WSL2`, `WSL_DISTRO_NAME=Ubuntu`). */
  reason: string;
  distro: string | null;
  /** `[boot] systemd=true` in /etc/wsl.conf. */
  systemdEnabled: boolean;
}

/** Reads `[boot] systemd=true` from wsl.conf (an ini file). Pure. */
export function wslConfEnablesSystemd(text: string | null): boolean {
  let section = '';
  for (const raw of (text ?? '').split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = (header[1] ?? '').trim().toLowerCase();
    else if (section === 'boot' && /^systemd\s*=\s*true$/i.test(line)) return true;
  }
  return false;
}

/** WSL is running when the kernel release names Microsoft/WSL or WSL's env variables are set. Pure. */
export function detectWsl(p: WslProbes): WslInfo {
  const distro = p.env.WSL_DISTRO_NAME ?? null;
  const release = p.osrelease?.trim() ?? '';
  const byKernel = /microsoft|wsl/i.test(release);
  const wsl = byKernel || distro !== null || p.env.WSL_INTEROP !== undefined;
  const version = !wsl ? null : /WSL2|microsoft-standard/i.test(release) || p.env.WSL_INTEROP !== undefined ? 2 : byKernel ? 1 : null;
  const reason = byKernel ? `kernel release ${release}` : distro !== null ? `WSL_DISTRO_NAME=${distro}` : wsl ? 'WSL_INTEROP is set' : 'not WSL';
  return { wsl, version, reason, distro, systemdEnabled: wslConfEnablesSystemd(p.wslConf) };
}

/** Live probes (osrelease only on a live system; /etc/wsl.conf through the rooted fs). Read-only. */
export async function observeWsl(ctx: Context): Promise<WslInfo> {
  let osrelease: string | null = null;
  if (!ctx.fs.isRooted) osrelease = await readLiveFile('/proc/sys/kernel/osrelease');
  return detectWsl({ osrelease, env: ctx.env, wslConf: await ctx.fs.read(WSL_CONF) });
}

/** What WSL changes for hostalias, for `up` notes and `doctor`. Pure. */
export function wslNotes(info: WslInfo, persistence: string | null): { notes: string[]; warnings: string[] } {
  if (!info.wsl) return { notes: [], warnings: [] };
  const notes = [
    `WSL${info.version ? ` ${info.version}` : ''} detected (${info.reason}): \`wsl --shutdown\` or a Windows restart stops the VM and the alias is gone until it starts again${persistence && persistence !== 'none' ? ` and ${persistence} re-adds it` : ''}.`,
    "Docker Desktop's WSL 2 backend runs the engine outside this distribution and behaves like Docker Desktop on macOS: it manages its own daemon configuration (--docker-daemon does not apply) and already provides host.docker.internal; hostalias doctor checks the alias through it.",
  ];
  const warnings: string[] = [];
  if (persistence && persistence !== 'none' && !info.systemdEnabled) {
    warnings.push(
      `systemd is not enabled in ${WSL_CONF}, so the ${persistence} persistence never runs in this distribution: add "[boot]" and "systemd=true" to ${WSL_CONF}, then run wsl --shutdown from Windows`,
    );
  }
  return { notes, warnings };
}

/** Adds WSL notes to `up`; changes nothing. */
export const wslNotesPart: Part = {
  id: 'wsl-notes',
  async plan(ctx, { desired, persistence }) {
    const plan = emptyPlan();
    if (!desired) return plan;
    const { notes, warnings } = wslNotes(await observeWsl(ctx), persistence?.kind ?? null);
    plan.notes.push(...notes.map((n) => planNote('wsl', n)));
    plan.warnings.push(...warnings.map((w) => planNote('wsl', w)));
    return plan;
  },
};

/** A `doctor` check: on WSL, what differs and whether persistence can run at all. Read-only. */
export const wslCheck: Check = {
  id: 'wsl',
  async run({ ctx, state }): Promise<Finding[]> {
    const info = await observeWsl(ctx);
    if (!info.wsl) return [];
    const kind = state?.persistence?.kind ?? null;
    const { notes, warnings } = wslNotes(info, kind);
    return [
      ...notes.map((n) => ok('wsl', n)),
      ...warnings.map((w) => warn('wsl', w, `printf '[boot]\\nsystemd=true\\n' | sudo tee -a ${WSL_CONF}   # then, from Windows: wsl --shutdown`)),
    ];
  },
};
