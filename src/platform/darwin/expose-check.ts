import { setTimeout } from 'node:timers/promises';
import type { ExposeSpec } from '../../model/config.js';
import type { Context } from '../../model/context.js';
import type { ExposeVerdict } from '../../model/context.js';
import { fail, ok, warn } from '../../model/finding.js';
import type { Check, Finding } from '../../model/context.js';
import { askPf } from './parts.js';
import { parseRuleCounters, parseSkippedIfaces, PF_ANCHOR, rdrRule } from './pf.js';
import { forwardLabel, forwardLogPath } from './forward-launchd.js';
import { jobState } from './launchd.js';

/**
 * What a login-like probe sends to PORT: for PostgreSQL (5432) a StartupMessage (protocol 3.0,
 * user and database "hostalias_probe"), which the server checks against pg_hba.conf — by the
 * client's address — before anything else; for other ports nothing (MySQL, SSH, SMTP, Redis…
 * answer first, and MySQL's first packet already refuses a host it doesn't allow). Pure.
 */
export function loginProbeInput(port: number): string {
  if (port !== 5432) return '';
  const params = 'user\0hostalias_probe\0database\0hostalias_probe\0\0';
  const len = 8 + params.length;
  const int32 = (n: number) => String.fromCharCode((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  return `${int32(len)}${int32(196608)}${params}`;
}

/**
 * A service refusing the client by its address, in the words the common ones use: PostgreSQL
 * (auth.c: `no pg_hba.conf entry for host "%s"`), MySQL/MariaDB (`Host '%s' is not allowed to
 * connect to this MySQL server`), and generic access-denied answers. Pure.
 */
export function addressRefusal(reply: string): string | null {
  const printable = reply
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const m = /(no pg_hba\.conf entry for host "[^"]*"[^.]*|Host '[^']*' is not allowed to connect[^.]*|access denied[^.]*)/i.exec(printable);
  return m?.[1] ?? null;
}

/**
 * The last failure the relay wrote to its log, as the CLI prints one (`hostalias: MESSAGE` and
 * `  fix: COMMAND`, cli/main.ts) or as dyld reports a missing library (`dyld[PID]: Library not
 * loaded: …`), or null. Pure.
 */
export function lastRelayError(log: string): { message: string; fix: string | null } | null {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    const m = /^(?:hostalias: (.+)|(dyld(?:\[\d+\])?: .+))$/.exec(line);
    if (!m) continue;
    const fix = /^\s+fix: (.+)$/.exec(lines[i + 1] ?? '')?.[1] ?? null;
    return { message: (m[1] ?? m[2] ?? '').trim(), fix };
  }
  return null;
}

export interface Exchange {
  connected: boolean;
  reply: string;
  error: string;
}

/** Connects from this Mac with macOS's nc, sends `input`, returns what came back (bounded: 2 s to connect, 2 s idle). */
export async function exchange(ctx: Context, host: string, port: number, input: string, zeroIo = false): Promise<Exchange> {
  const argv = ['nc', ...(zeroIo ? ['-z'] : []), '-G', '2', '-w', '2', host, String(port)];
  const res = await ctx.runner.run(argv, { input, timeoutMs: 10_000 });
  return { connected: res.code === 0, reply: res.stdout, error: (res.stderr || `nc exited ${res.code}`).trim() };
}

/**
 * Packets our rdr rule for `spec` has translated (`pfctl -a ANCHOR -v -s nat`), null when pf can't
 * be read. Not Evaluations: pf_match_translation (XNU bsd/net/pf.c) counts an evaluation for
 * every packet that reaches the rule, before it compares the interface or the addresses, so
 * ordinary en0 traffic raises it; Packets rise only for packets of states the rule created
 * (pf_test adds them to the state's nat_rule).
 */
async function rdrPackets(ctx: Context, ip: string, spec: ExposeSpec): Promise<number | null> {
  const answer = await askPf(ctx, ['-a', PF_ANCHOR, '-v', '-s', 'nat']);
  if (!('text' in answer)) return null;
  return parseRuleCounters(answer.text).find((r) => r.rule === rdrRule(ip, spec))?.packets ?? 0;
}

/** lo0 is in pf's skip list (`set skip on lo0`): no rule on lo0 is evaluated. Null when unknown. */
async function lo0Skipped(ctx: Context): Promise<boolean | null> {
  const answer = await askPf(ctx, ['-v', '-s', 'Interfaces']);
  return 'text' in answer ? parseSkippedIfaces(answer.text).includes('lo0') : null;
}

/**
 * Right after `expose` applied: does the new path work? A pf redirect must be seen to fire — a
 * connection from this Mac to ALIAS:PORT goes through lo0 and must raise the rule's Packets
 * counter (not Evaluations, see rdrPackets). Whether rules in a child of com.apple/* fire is not proven on every macOS (one real-Mac
 * test reported such a child never firing), so when it does not, the port falls back to the
 * relay. A relay must accept a connection within a few seconds (launchd starts it). Needs root (pfctl).
 */
export async function verifyMacExpose(ctx: Context, ip: string, spec: ExposeSpec): Promise<ExposeVerdict> {
  if (spec.proto !== 'tcp') return { ok: true, detail: `${spec.port}/udp is not verified (a UDP probe can't tell a drop from silence)` };
  if (spec.via === 'relay') {
    const label = forwardLabel(spec);
    let last: Exchange | null = null;
    for (let i = 0; i < 20; i++) {
      last = await exchange(ctx, ip, spec.port, '', true);
      // Another process may hold the alias's port (a `hostalias forward` in a terminal): the
      // connection then proves nothing about the relay, which launchd must show running.
      if (last.connected && (await jobState(ctx, label)) === 'running')
        return { ok: true, detail: `the relay ${label} accepts connections on ${ip}:${spec.port}` };
      await setTimeout(250);
    }
    // launchd keeps restarting it (KeepAlive): the relay's own words in its log say why it can't listen.
    const said = lastRelayError((await ctx.fs.read(forwardLogPath(label))) ?? '');
    return {
      ok: false,
      detail: `the relay ${label} does not accept connections on ${ip}:${spec.port} after 5 s (${said?.message ?? last?.error ?? 'no answer'})`,
      fix: said?.fix ?? `sudo tail ${forwardLogPath(label)}`,
    };
  }
  const before = await rdrPackets(ctx, ip, spec);
  await exchange(ctx, ip, spec.port, '', true);
  const after = await rdrPackets(ctx, ip, spec);
  if (before === null || after === null) return { ok: true, detail: 'the redirect could not be checked (pfctl did not answer)' };
  if (after > before)
    return { ok: true, detail: `the pf redirect for ${ip}:${spec.port} fires (it translated ${after - before} packet(s) of a test connection)` };
  const skipped = await lo0Skipped(ctx);
  const why = skipped
    ? 'pf skips lo0 entirely (`set skip on lo0` in /etc/pf.conf), so no rule on lo0 is evaluated'
    : `a connection from this Mac to ${ip}:${spec.port} was not translated by the rdr rule in ${PF_ANCHOR} (its Packets counter did not rise): rules in that child of com.apple/* do not apply on this Mac`;
  return {
    ok: false,
    detail: `the pf redirect does not fire: ${why}. ${spec.port}/tcp is served by the relay instead (it connects from 127.0.0.1, so the service sees 127.0.0.1, not the client)`,
    fallback: { ...spec, keepSource: false, via: 'relay' },
  };
}

/**
 * doctor `expose`: for each exposed TCP port, a login-like exchange through the alias and the same
 * one directly on 127.0.0.1:TO. A TCP connect alone proves little: a relay accepts even when its
 * target refuses, and a service reached through pf sees the alias as its client and may refuse it
 * by address (Homebrew's pg_hba.conf trusts only 127.0.0.1/32 and ::1).
 */
export const macExposeCheck: Check = {
  id: 'expose',
  async run({ ctx, desired, hostalias }) {
    const findings: Finding[] = [];
    for (const e of desired.exposes) {
      const what = `${desired.ip}:${e.port}/${e.proto} → 127.0.0.1:${e.to}`;
      const relayed = e.via === 'relay';
      const via = relayed ? `relay ${forwardLabel(e)} (the service sees 127.0.0.1 or ::1)` : `pf redirect (the service sees ${desired.ip} as the client)`;
      if (e.proto !== 'tcp') {
        findings.push(ok('expose', `${what} via the ${via}; UDP is not probed`));
        continue;
      }
      const input = loginProbeInput(e.to);
      const direct = await exchange(ctx, '127.0.0.1', e.to, input);
      if (!direct.connected) {
        findings.push(warn('expose', `${what}: nothing answers on 127.0.0.1:${e.to} (${direct.error})`, `start the service on 127.0.0.1:${e.to}`));
        continue;
      }
      const through = await exchange(ctx, desired.ip, e.port, input);
      if (!through.connected) {
        const fix = relayed
          ? `sudo launchctl kickstart -k system/${forwardLabel(e)}; tail ${forwardLogPath(forwardLabel(e))}`
          : hostalias(`expose ${e.port} --via relay`);
        findings.push(fail('expose', `${what}: a connection through the alias fails (${through.error}) although 127.0.0.1:${e.to} answers`, fix));
        continue;
      }
      const refused = addressRefusal(through.reply);
      if (refused && !addressRefusal(direct.reply)) {
        findings.push(
          fail(
            'expose',
            `${what} via the ${via}: the service refuses that client by address: "${refused}"`,
            relayed
              ? `allow 127.0.0.1 in the service's access rules`
              : `${hostalias(`expose ${e.port} --via relay`)}   (the relay connects from 127.0.0.1), or allow ${desired.ip} in the service (pg_hba.conf: host all all ${desired.ip}/32 scram-sha-256)`,
          ),
        );
        continue;
      }
      findings.push(ok('expose', `${what} via the ${via}: a login-like exchange through the alias gets the answer 127.0.0.1:${e.to} gives`));
    }
    return findings;
  },
};
