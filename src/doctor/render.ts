import type { Finding } from '../model/context.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;
const COLOR = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m' } as const;
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Whether to colour: only on a terminal, and never with NO_COLOR set (https://no-color.org). Pure. */
export function useColor(isTty: boolean, env: Record<string, string | undefined>): boolean {
  return isTty && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
}

/** A check shows at most this many findings that aren't ok; the rest are summed up in one line. */
export const SHOWN_PER_CHECK = 20;

/**
 * The human report: findings grouped by check in first-seen order, a fix under each problem, a
 * summary. Past SHOWN_PER_CHECK problems in one check the rest are counted, not listed, so the
 * report stays readable and its size bounded (`--json` has them all). Pure; linear.
 */
export function renderReport(findings: readonly Finding[], opts: { color: boolean; title?: string }): string {
  const c = (code: string, s: string) => (opts.color ? `${code}${s}${RESET}` : s);
  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const list = groups.get(f.id);
    if (list) list.push(f);
    else groups.set(f.id, [f]);
  }
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title, '');
  const counts = { ok: 0, warn: 0, fail: 0 };
  for (const [id, list] of groups) {
    const here = { ok: 0, warn: 0, fail: 0 };
    for (const f of list) here[f.status] += 1;
    counts.ok += here.ok;
    counts.warn += here.warn;
    counts.fail += here.fail;
    const worst = here.fail > 0 ? 'fail' : here.warn > 0 ? 'warn' : 'ok';
    lines.push(c(COLOR[worst], `${MARK[worst]} ${id}`));
    // Past the cap, problems first (fails, then warnings), so it never hides a failure behind an ok line.
    const ordered =
      list.length <= SHOWN_PER_CHECK
        ? list
        : [...list.filter((f) => f.status === 'fail'), ...list.filter((f) => f.status === 'warn'), ...list.filter((f) => f.status === 'ok')];
    let shown = 0;
    const hidden = { ok: 0, warn: 0, fail: 0 };
    for (const f of ordered) {
      if (shown >= SHOWN_PER_CHECK) {
        hidden[f.status] += 1;
        continue;
      }
      shown += 1;
      lines.push(`    ${c(COLOR[f.status], MARK[f.status])} ${f.message}`);
      if (f.fix && f.status !== 'ok') lines.push(`      ${c(DIM, 'fix:')} ${f.fix}`);
    }
    const more = hidden.fail + hidden.warn + hidden.ok;
    if (more > 0) lines.push(`    … ${more} more (${hidden.fail} failed, ${hidden.warn} warnings, ${hidden.ok} ok): hostalias doctor --json lists them all`);
  }
  lines.push('', `${counts.fail} failed, ${counts.warn} warning${counts.warn === 1 ? '' : 's'}, ${counts.ok} ok`);
  return lines.join('\n');
}

/** `{ "findings": [ { id, status, message, fix } ] }` with `fix` null when there is none. Pure. */
export function renderJson(findings: readonly Finding[]): string {
  return JSON.stringify({ findings: findings.map((f) => ({ id: f.id, status: f.status, message: f.message, fix: f.fix ?? null })) }, null, 2);
}
