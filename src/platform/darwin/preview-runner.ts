import type { Context } from '../../model/context.js';
import { STATE_PATH, type State } from '../../model/state.js';
import type { RunOptions, RunResult, Runner } from '../../model/runner.js';
import { shellQuote } from '../../model/shell.js';
import type { Files } from '../../model/files.js';
import { PF_ANCHOR, PF_TOKEN_PATH, pfDesiredOf, pfRulesFor } from './pf.js';

const ALTQ = 'No ALTQ support in kernel\nALTQ related functions disabled\n';

/** What the simulated Mac has: nothing, or what a --root state file records. */
interface Simulated {
  source: 'pristine' | 'state';
  ip: string | null;
  rules: string[];
  /** pf references the state's token file names, taken as live. */
  tokens: string[];
}

function lo0(ip: string | null): string {
  const alias = ip ? `\tinet ${ip} netmask 0xffffffff \n` : '';
  return `lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>
\tinet 127.0.0.1 netmask 0xff000000 
\tinet6 ::1 prefixlen 128 
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1 
${alias}\tnd6 options=201<PERFORMNUD,DAD>
`;
}

const MAIN_NAT = 'nat-anchor "com.apple/*" all\nrdr-anchor "com.apple/*" all\n';

/**
 * The runner behind `--platform darwin` on a machine that isn't a Mac. macOS commands can't run
 * here, so it answers hostalias's read-only probes (ifconfig, launchctl print, pfctl -s, sw_vers)
 * as a Mac would where nothing of hostalias is installed — or, under --root with a state file,
 * where exactly what that state records is installed (alias on lo0, exposed ports in pf) and
 * nothing else. Every other command fails: a preview never changes anything (ops refuses to apply
 * a foreign platform's plan anyway). The plan notes say which assumption was made.
 */
export class MacPreviewRunner implements Runner {
  private simulated: Promise<Simulated> | null = null;
  constructor(
    private readonly fs: Files,
    readonly host: string = process.platform,
    /** The recorded state under --root (the engine's state store reads it); none by default. */
    private readonly recorded: () => Promise<State | null> = () => Promise.resolve(null),
  ) {}

  private simulate(): Promise<Simulated> {
    this.simulated ??= (async (): Promise<Simulated> => {
      const state = this.fs.isRooted ? await this.recorded() : null;
      if (!state) return { source: 'pristine', ip: null, rules: [], tokens: [] };
      const tokens = (await this.fs.read(PF_TOKEN_PATH))?.match(/\d+/g) ?? [];
      const d = state.desired;
      return { source: 'state', ip: d.ip, rules: pfRulesFor(pfDesiredOf(d, false)), tokens };
    })();
    return this.simulated;
  }

  /** One line for the plan's notes saying what was assumed. */
  async describe(): Promise<string> {
    const sim = await this.simulate();
    if (sim.source === 'pristine')
      return `previewing macOS from ${this.host}: assuming nothing is installed (macOS commands can't run here, so the plan is for a Mac without hostalias)`;
    return `previewing macOS from ${this.host}: assuming exactly what ${this.fs.resolve(STATE_PATH)} records is installed (alias ${sim.ip} on lo0${sim.rules.length ? `, ${sim.rules.length} pf rule(s)` : ''}) and nothing else`;
  }

  async run(argv: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    const sim = await this.simulate();
    const line = shellQuote(argv);
    const ok = (stdout: string, stderr = ''): RunResult => ({ code: 0, stdout, stderr });
    if (line === 'ifconfig lo0') return ok(lo0(sim.ip));
    if (line === 'ifconfig -a') return ok(`${lo0(sim.ip)}gif0: flags=8010<POINTOPOINT,MULTICAST> mtu 1280\nstf0: flags=0<> mtu 1280\n`);
    // A Mac where nothing of hostalias is disabled: launchd's list without our labels.
    if (line === 'launchctl print-disabled system') return ok('disabled services = {\n}\n\nlogin item associations = {\n}\n');
    const print = /^launchctl print system\/(\S+)$/.exec(line);
    if (print) return { code: 113, stdout: '', stderr: `Could not find service "${print[1]}" in domain for system\n` };
    const nat = (r: string) => r.startsWith('rdr ');
    const anchor = /^pfctl -a \S+ (-v )?-s (nat|rules)$/.exec(line);
    if (anchor && line.startsWith(`pfctl -a ${PF_ANCHOR} `)) {
      // An anchor never loaded since boot answers DIOCGETRULES (see pf.ts isMissingAnchor).
      if (sim.rules.length === 0) return { code: 1, stdout: '', stderr: `${ALTQ}pfctl: DIOCGETRULES: Invalid argument\n` };
      const rules = sim.rules.filter((r) => nat(r) === (anchor[2] === 'nat'));
      return ok(
        rules.map((r) => `${r}\n${anchor[1] ? '  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]\n' : ''}`).join(''),
        ALTQ,
      );
    }
    if (line === 'pfctl -s rules') return ok('scrub-anchor "com.apple/*" all fragment reassemble\nanchor "com.apple/*" all\n', ALTQ);
    if (line === 'pfctl -v -s Interfaces') return ok('all\nlo0\nen0\n', ALTQ);
    if (line === 'pfctl -s nat') return ok(MAIN_NAT, ALTQ);
    if (line === 'pfctl -s info') return ok(`Status: ${sim.rules.length > 0 ? 'Enabled for 0 days 00:00:00' : 'Disabled'}              Debug: Urgent\n`, ALTQ);
    if (line === 'pfctl -s References')
      return ok(
        `TOKENS:\nPID      Process Name                TOKEN                     TIMESTAMP\n${sim.tokens.map((t) => `1        pfctl                       ${t}      0 days 00:00:00\n`).join('')}`,
        ALTQ,
      );
    return { code: 126, stdout: '', stderr: `previewing macOS from ${this.host}: \`${line}\` can't run here (only --dry-run works with --platform darwin)` };
  }
}

/** The note a part adds when the plan is a preview on another OS, else null. */
export async function previewNote(ctx: Context): Promise<string | null> {
  return ctx.runner instanceof MacPreviewRunner ? ctx.runner.describe() : null;
}
