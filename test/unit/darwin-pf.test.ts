import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ExposeSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { up } from '../../src/engine/converge.js';
import { expose } from '../../src/engine/expose.js';
import { loadState } from '../../src/engine/state-store.js';
import { runChecks } from '../../src/doctor/run-checks.js';
import { doctorInput } from '../../src/engine/inputs.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { parseRuleCounters, PF_ANCHOR, rdrRule } from '../../src/platform/darwin/pf.js';
import { FakeMac, MacRootFs } from '../support/fake-mac.js';
import { makeRoot } from '../support/rooted.js';

// pf's rule counters as XNU keeps them (bsd/net/pf.c): pf_match_translation increments a rule's
// Evaluations for every stateless packet that reaches it, before comparing the interface or the
// addresses; Packets grow only with the packets of states the rule created (pf_test). The FakeMac
// counts them that way (fake-mac.ts traffic()) and sees some en0 traffic around every probe.
const IP = '10.254.254.254';
const PG: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: true };
const RULE = rdrRule(IP, PG);

async function mac(t: TestContext): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs }> {
  const fs = new MacRootFs(await makeRoot(t));
  const m = new FakeMac(fs);
  m.services.set(5432, () => 'pg');
  return { ctx: { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} }, mac: m, fs };
}

async function counters(m: FakeMac) {
  const res = await m.run(['pfctl', '-a', PF_ANCHOR, '-v', '-s', 'nat']);
  return parseRuleCounters(res.stdout).find((r) => r.rule === RULE);
}

test("pf.c counters: en0 traffic raises the rdr rule's Evaluations, never its Packets; a redirected connection raises Packets", async (t) => {
  const { ctx, mac: m } = await mac(t);
  await up(ctx, { lanGuard: false, exposes: [{ ...PG, via: 'kernel' }] });
  m.enTraffic(7);
  assert.deepEqual(await counters(m), { rule: RULE, evaluations: 7, packets: 0, states: 0 }, 'evaluated before the interface is compared');
  assert.equal((await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432'])).code, 0);
  const after = await counters(m);
  assert.equal(after?.packets, 6, "the connection's packets");
  assert.equal(after?.states, 1);
  assert.equal(after?.evaluations, 7 + m.backgroundPackets + 1, 'its first packet was evaluated too; its later ones matched the state');
});

test('with `set skip on lo0` the redirect never fires although ordinary traffic keeps raising Evaluations: expose --keep-source falls back to the relay', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.skipLo0 = true;
  // What the old check read: Evaluations rise between two probes even though nothing is redirected.
  await up(ctx, { lanGuard: false, exposes: [{ ...PG, via: 'kernel' }] });
  const before = await counters(m);
  assert.equal((await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432'])).code, 1, 'refused: pf skips lo0, nothing listens on the alias');
  const after = await counters(m);
  assert.ok((after?.evaluations ?? 0) > (before?.evaluations ?? 0), 'Evaluations rose: the old check would have said "fires"');
  assert.equal(after?.packets, 0);

  const res = await expose(ctx, PG);
  assert.ok(
    res.plan.warnings.some((w) => /pf redirect does not fire/.test(w.text) && /set skip on lo0/.test(w.text)),
    res.plan.warnings.map((w) => w.text).join('\n'),
  );
  assert.equal((await loadState(fs))?.desired.exposes[0]?.via, 'relay');
  assert.ok(m.listening.has('dev.hostalias.forward.5432-tcp'));
});

test('a child anchor whose rules do not apply: no fallback is missed because of en0 traffic; when the rule applies nothing falls back (negative control)', async (t) => {
  const { ctx, mac: m, fs } = await mac(t);
  m.childAnchorFires = false;
  const res = await expose(ctx, PG);
  assert.ok(
    res.plan.warnings.some((w) => /Packets counter did not rise/.test(w.text)),
    res.plan.warnings.map((w) => w.text).join('\n'),
  );
  assert.equal((await loadState(fs))?.desired.exposes[0]?.via, 'relay');

  const other = await mac(t);
  const fired = await expose(other.ctx, PG);
  assert.deepEqual(fired.plan.warnings, []);
  assert.ok(
    fired.plan.notes.some((n) => /redirect for 10\.254\.254\.254:5432 fires \(it translated 6 packet\(s\)/.test(n.text)),
    fired.plan.notes.map((n) => n.text).join('\n'),
  );
});

test('doctor counts what the redirect translated (Packets), not what pf evaluated: en0 traffic alone is "not redirected yet"', async (t) => {
  const { ctx, mac: m } = await mac(t);
  // No service on 127.0.0.1:5432: doctor's own `expose` check then makes no connection through the alias.
  m.services.delete(5432);
  await up(ctx, { lanGuard: false, exposes: [{ ...PG, via: 'kernel' }] });
  m.enTraffic(40);
  let pf = (await runChecks(await doctorInput(ctx))).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'warn' && /no connection has been redirected yet/.test(f.message) && /Packets 0/.test(f.message)),
    JSON.stringify(pf),
  );
  assert.ok(((await counters(m))?.evaluations ?? 0) >= 40, 'while Evaluations are high');
  await m.run(['nc', '-z', '-G', '2', '-w', '2', IP, '5432']);
  pf = (await runChecks(await doctorInput(ctx))).filter((f) => f.id === 'pf');
  assert.ok(
    pf.some((f) => f.status === 'ok' && /redirect translated \d+ packet\(s\)/.test(f.message)),
    JSON.stringify(pf),
  );
});

test('doctor compares the pf boot job and its anchor file like the alias plist: deleted or edited, they fail (after a reboot pf would be empty)', async (t) => {
  const { ctx, fs } = await mac(t);
  await up(ctx, { exposes: [{ ...PG, via: 'kernel' }] });
  const persistence = async () => (await runChecks(await doctorInput(ctx))).filter((f) => f.id === 'persistence');
  const intact = await persistence();
  assert.deepEqual(
    intact.map((f) => f.status),
    ['ok'],
    'negative control: intact before anything is deleted',
  );
  assert.match(intact[0]?.message ?? '', /dev\.hostalias\.pf and \/etc\/pf\.anchors\/dev\.hostalias in place for boot/);

  const plist = '/Library/LaunchDaemons/dev.hostalias.pf.plist';
  const anchor = '/etc/pf.anchors/dev.hostalias';
  const saved = await fs.read(anchor);
  await fs.remove(plist);
  await fs.remove(anchor);
  let found = await persistence();
  assert.ok(found.every((f) => f.status === 'fail'));
  assert.ok(
    found.some((f) => f.message === `${plist} is missing: after the next reboot neither the LAN guard nor the redirects would be in pf`),
    JSON.stringify(found),
  );
  assert.ok(
    found.some((f) => f.message === `${anchor} is missing: after the next reboot neither the LAN guard nor the redirects would be in pf`),
    JSON.stringify(found),
  );
  assert.ok(found.every((f) => f.fix === 'hostalias up'));

  await up(ctx, {});
  await fs.write(anchor, `${saved}pass in quick all\n`, 0o644);
  found = await persistence();
  assert.ok(
    found.some((f) => f.status === 'fail' && f.message.startsWith(`${anchor} differs from what hostalias writes`)),
    JSON.stringify(found),
  );
});
