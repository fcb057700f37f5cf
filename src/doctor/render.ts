import type { Finding } from '../model/finding.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;
const COLOR = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m' } as const;
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Whether to colour: only on a terminal, and never with NO_COLOR set (https://no-color.org). Pure. */
export function useColor(isTty: boolean, env: Record<string, string | undefined>): boolean {
  return isTty && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
}

/** The human report: findings grouped by check in first-seen order, a fix under each problem, a summary. Pure. */
export function renderReport(findings: readonly Finding[], opts: { color: boolean; title?: string }): string {
  const c = (code: string, s: string) => (opts.color ? `${code}${s}${RESET}` : s);
  const groups = new Map<string, Finding[]>();
  for (const f of findings) groups.set(f.id, [...(groups.get(f.id) ?? []), f]);
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title, '');
  for (const [id, list] of groups) {
    const worst = list.some((f) => f.status === 'fail') ? 'fail' : list.some((f) => f.status === 'warn') ? 'warn' : 'ok';
    lines.push(c(COLOR[worst], `${MARK[worst]} ${id}`));
    for (const f of list) {
      lines.push(`    ${c(COLOR[f.status], MARK[f.status])} ${f.message}`);
      if (f.fix && f.status !== 'ok') lines.push(`      ${c(DIM, 'fix:')} ${f.fix}`);
    }
  }
  const count = (s: Finding['status']) => findings.filter((f) => f.status === s).length;
  lines.push('', `${count('fail')} failed, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('ok')} ok`);
  return lines.join('\n');
}

/** `{ "findings": [ { id, status, message, fix } ] }` with `fix` null when there is none. Pure. */
export function renderJson(findings: readonly Finding[]): string {
  return JSON.stringify({ findings: findings.map((f) => ({ id: f.id, status: f.status, message: f.message, fix: f.fix ?? null })) }, null, 2);
}
