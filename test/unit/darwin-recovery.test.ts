import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired, ExposeSpec } from '../../src/model/config.js';
import type { Context } from '../../src/model/context.js';
import { down, up, type ChangeResult } from '../../src/engine/converge.js';
import { INTENT_PATH } from '../../src/model/intent.js';
import { JOURNAL_PATH, STATE_DIR, STATE_PATH } from '../../src/model/state.js';
import { RUNTIME_DIR } from '../../src/exec/runtime.js';
import { printChange } from '../../src/cli/render-change.js';
import { darwinBackend } from '../../src/platform/darwin/backend.js';
import { FakeMac, MacRootFs } from '../support/fake-mac.js';
import { makeRoot, readTree } from '../support/rooted.js';

// On macOS: `down` without a usable state.json finds what hostalias installed by
// its markers (LaunchDaemon labels with the managed header, the pf anchor and its files, the
// /etc/hosts block, relay plists and logs, the runtime copy, the alias those name), and an
// interrupted change (intent record, no state) is finished or undone — on the FakeMac.

// A Mac's own files, which every test checks are left exactly as they were.
const STOCK_HOSTS =
  '##\n# Host Database\n#\n# localhost is used to configure the loopback interface\n# when the system is booting.  Do not change this entry.\n##\n127.0.0.1\tlocalhost\n255.255.255.255\tbroadcasthost\n::1             localhost\n';
const APPLE_ANCHOR = '#\n# com.apple anchor point\n#\nscrub-anchor "200.AirDrop/*"\nanchor "200.AirDrop/*"\n\nanchor "250.ApplicationFirewall/*"\n';
const VMNETD = 'com.docker.vmnetd';
const VMNETD_PLIST = `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n\t<key>Label</key>\n\t<string>${VMNETD}</string>\n\t<key>Program</key>\n\t<string>/Library/PrivilegedHelperTools/com.docker.vmnetd</string>\n\t<key>RunAtLoad</key>\n\t<true/>\n</dict>\n</plist>\n`;
const MAC_FILES: Record<string, string> = {
  '/etc/hosts': STOCK_HOSTS,
  '/etc/pf.anchors/com.apple': APPLE_ANCHOR,
  [`/Library/LaunchDaemons/${VMNETD}.plist`]: VMNETD_PLIST,
};

const PG_RELAYED: ExposeSpec = { port: 5432, proto: 'tcp', to: 5432, keepSource: false, via: 'relay' };
const REDIS_PF: ExposeSpec = { port: 6379, proto: 'tcp', to: 6379, keepSource: true, via: 'kernel' };

async function mac(t: TestContext, root?: string): Promise<{ ctx: Context; mac: FakeMac; fs: MacRootFs; root: string }> {
  const dir = root ?? (await makeRoot(t, MAC_FILES));
  const fs = new MacRootFs(dir);
  const m = new FakeMac(fs);
  m.loaded.add(VMNETD);
  return { ctx: { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} }, mac: m, fs, root: dir };
}

/** Files under the fake Mac's `/`, without the journal (it records what happened and stays). */
async function files(root: string): Promise<Record<string, string>> {
  const tree = await readTree(root);
  delete tree[JOURNAL_PATH];
  return tree;
}

/** What the CLI prints for this outcome of `down`. */
function printed(ctx: Context, res: ChangeResult): string {
  const lines: string[] = [];
  printChange({ out: (s) => lines.push(s), err: (s) => lines.push(s), exitCode: 0 }, ctx, 'down', res, {
    already: 'already down: nothing hostalias installed is left',
  });
  return lines.join('\n');
}

const recoveredNote = (res: ChangeResult) => res.plan.notes.find((n) => /recovered from hostalias's markers/.test(n.text))?.text ?? '';

test('state.json removed after up: down finds every piece by its markers, removes it, says so; the Mac is as before up; then "already down"', async (t) => {
  const { ctx, mac: m, root } = await mac(t);
  const before = { files: await files(root), system: m.system() };
  await up(ctx, { hostsFile: true, exposes: [PG_RELAYED, REDIS_PF] });
  assert.deepEqual(m.system().aliases, ['10.254.254.254 0xffffffff'], 'negative control: up installed the alias');
  assert.ok(
    m.loaded.has('dev.hostalias.forward.5432-tcp') && m.anchor.length > 0 && m.tokens.length === 1,
    'negative control: a relay, pf rules and a pf reference are live',
  );
  await rm(join(root, STATE_PATH));

  const res = await down(ctx);
  const note = recoveredNote(res);
  assert.match(note, /\/var\/lib\/hostalias\/state\.json is missing: recovered from hostalias's markers, removing /);
  for (const piece of [
    '/Library/LaunchDaemons/dev.hostalias.alias.plist (launchd persistence of 10.254.254.254)',
    'the pf anchor file /etc/pf.anchors/dev.hostalias',
    '/Library/LaunchDaemons/dev.hostalias.pf.plist',
    '/var/lib/hostalias/pf-token',
    'rule(s) loaded in the pf anchor com.apple/hostalias',
    'the relay LaunchDaemon /Library/LaunchDaemons/dev.hostalias.forward.5432-tcp.plist',
    `the installed copy in ${RUNTIME_DIR}`,
    'the hostalias block in /etc/hosts',
    '10.254.254.254/32 on lo0',
  ]) {
    assert.ok(note.includes(piece), `the note names ${piece}: ${note}`);
  }
  assert.match(printed(ctx, res), /^note: .*recovered from hostalias's markers/m, 'the CLI prints it');
  assert.deepEqual(m.system(), before.system, 'alias, LaunchDaemons, relay, pf rules and reference: all gone; vmnetd still loaded');
  assert.deepEqual(await files(root), before.files, '/etc/hosts byte for byte, nothing of hostalias left, Apple and Docker files untouched');

  const again = await down(ctx);
  assert.deepEqual(again.plan.steps, []);
  assert.equal(recoveredNote(again), '', 'nothing found the second time');
  assert.equal(printed(ctx, again), '✓ already down: nothing hostalias installed is left');
});

test('plists deleted by hand too: launchd still has the jobs; the alias job names the address, the relay log names the relay; all removed', async (t) => {
  const { ctx, mac: m, root } = await mac(t);
  m.createsLogs = true;
  const before = { files: await files(root), system: m.system() };
  // No LAN guard and no hosts block: only the alias job knows the address.
  await up(ctx, { ip: '10.254.254.253', lanGuard: false, exposes: [PG_RELAYED] });
  assert.equal(await ctx.fs.exists('/var/log/dev.hostalias.forward.5432-tcp.log'), true, 'negative control: launchd created the log');
  for (const path of [STATE_PATH, '/Library/LaunchDaemons/dev.hostalias.alias.plist', '/Library/LaunchDaemons/dev.hostalias.forward.5432-tcp.plist'])
    await rm(join(root, path));

  const res = await down(ctx);
  assert.match(
    recoveredNote(res),
    /removing dev\.hostalias\.alias loaded in launchd \(adds 10\.254\.254\.253\); the relay log \/var\/log\/dev\.hostalias\.forward\.5432-tcp\.log; the installed copy in \S+; 10\.254\.254\.253\/32 on lo0$/,
  );
  assert.ok(
    m.changes.includes('launchctl bootout system/dev.hostalias.alias') && m.changes.includes('launchctl bootout system/dev.hostalias.forward.5432-tcp'),
    m.changes.join('\n'),
  );
  assert.deepEqual(m.system(), before.system, 'both jobs booted out, the relay stopped, the alias gone');
  assert.deepEqual(await files(root), before.files);
});

test('a corrupt state.json: down says it is unreadable and recovers from the markers the same way', async (t) => {
  const { ctx, mac: m, root } = await mac(t);
  const before = { files: await files(root), system: m.system() };
  await up(ctx, { ip: '10.254.254.253', hostsFile: true, persist: 'none' });
  await writeFile(join(root, STATE_PATH), '{"version":1,"desired":{"names":["ok\\n1.2.3.4 evil"]}}');
  await assert.rejects(up(ctx, {}), /state\.json is unreadable .*nothing was changed/, 'up refuses: the negative control');
  const res = await down(ctx);
  // No LaunchDaemon (--persist none): the LAN guard's pf rules and the hosts block name the address.
  assert.match(
    recoveredNote(res),
    /state\.json is unreadable: recovered from hostalias's markers, removing the pf anchor file .*; 1 rule\(s\) loaded in the pf anchor com\.apple\/hostalias; the hostalias block in \/etc\/hosts; .*; 10\.254\.254\.253\/32 on lo0$/,
  );
  assert.deepEqual(m.system(), before.system);
  assert.deepEqual(await files(root), before.files);
  assert.deepEqual((await down(ctx)).plan.steps, []);
});

test("control: another app's LaunchDaemons, Apple's pf anchor and hand-made lo0 addresses are not hostalias's: already down, nothing touched", async (t) => {
  const foreign: Record<string, string> = {
    ...MAC_FILES,
    // hostalias's own names, but without its managed header: a user's files, never removed.
    '/Library/LaunchDaemons/dev.hostalias.alias.plist': VMNETD_PLIST.replaceAll(VMNETD, 'dev.hostalias.alias'),
    '/Library/LaunchDaemons/dev.hostalias.forward.9000-tcp.plist': VMNETD_PLIST.replaceAll(VMNETD, 'dev.hostalias.forward.9000-tcp'),
    '/etc/pf.anchors/dev.hostalias': 'rdr pass on lo0 inet proto tcp from any to 10.254.254.254 port = 80 -> 127.0.0.1 port 8080\n',
  };
  const { ctx, mac: m, root } = await mac(t, await makeRoot(t, foreign));
  m.aliases.set('10.254.254.254', '0xff000000'); // `ifconfig lo0 alias 10.254.254.254`: the classful /8
  m.aliases.set('192.0.2.10', '0xffffffff'); // a /32 no marker names
  m.loaded.add('dev.hostalias.forward.9000-tcp');
  const before = { files: await readTree(root, { withStat: true }), system: m.system() };

  const res = await down(ctx);
  assert.deepEqual(res.plan.steps, []);
  assert.equal(recoveredNote(res), '');
  assert.equal(printed(ctx, res), '✓ already down: nothing hostalias installed is left');
  assert.deepEqual(m.changes, [], 'only probes ran');
  assert.deepEqual(m.system(), before.system);
  const after = await readTree(root, { withStat: true });
  delete after[JOURNAL_PATH];
  assert.deepEqual(after, before.files, 'not even rewritten (same mtimes)');

  await assert.rejects(up(ctx, {}), /\/etc\/pf\.anchors\/dev\.hostalias exists and was not written by hostalias/, 'up neither overwrites it');
  assert.deepEqual(m.changes, [], 'and changes nothing');

  // Negative control: the same Mac with hostalias's default /32 on lo0 is found and cleaned.
  m.aliases.set('10.254.254.254', '0xffffffff');
  const found = await down(ctx);
  assert.match(recoveredNote(found), /removing 10\.254\.254\.254\/32 on lo0 \(hostalias's default address and netmask\)$/);
  assert.deepEqual(m.system().aliases, ['192.0.2.10 0xffffffff']);
  assert.deepEqual(m.system().loaded, before.system.loaded, "the user's job with a hostalias-like label stays loaded");
});

/** A MacRootFs that calls `onStep` right after each `done` line of the journal: where a kill would land. */
class WatchedFs extends MacRootFs {
  onStep: (() => Promise<void>) | null = null;
  override async append(path: string, text: string): Promise<void> {
    await super.append(path, text);
    if (path === JOURNAL_PATH && / done /.test(text)) await this.onStep?.();
  }
}

/** A pid no process has: the holder of the lock a killed run leaves behind. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid as number;
}

interface Kill {
  root: string;
  mac: FakeMac;
}

/**
 * Runs `change` on a Mac with the Mac's own files, copying the Mac (files and kernel/launchd) right
 * after each step the journal records as done: each copy is what a SIGKILL at that point leaves,
 * the killed run's lock (its pid dead) included. Returns the Mac before, the copies and the context.
 */
async function killedAfterEachStep(
  t: TestContext,
  prepare: (ctx: Context) => Promise<void>,
  change: (ctx: Context) => Promise<unknown>,
): Promise<{ before: { files: Record<string, string>; system: ReturnType<FakeMac['system']> }; kills: Kill[]; ctx: Context }> {
  const base = await makeRoot(t, MAC_FILES);
  const fs = new WatchedFs(base);
  const m = new FakeMac(fs);
  m.loaded.add(VMNETD);
  const ctx: Context = { runner: m, fs, backend: darwinBackend, isRoot: true, live: true, env: {} };
  const before = { files: await files(base), system: m.system() };
  await prepare(ctx);
  const kills: Kill[] = [];
  const dead = deadPid();
  fs.onStep = async () => {
    const root = await mkdtemp(join(tmpdir(), 'hal-crash-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await cp(base, root, { recursive: true, verbatimSymlinks: true });
    // The killed run's lock stays, naming its holder (PID.NONCE@HOST, src/fs/lock.ts): now a dead one.
    const lock = join(root, STATE_DIR, 'lock');
    const held = await readlink(lock);
    await rm(lock);
    await symlink(held.replace(/^\d+\./, `${dead}.`), lock);
    kills.push({ root, mac: m.copyTo(new MacRootFs(root)) });
  };
  await change(ctx);
  fs.onStep = null;
  return { before, kills, ctx };
}

/** A fresh copy of a killed Mac (its dead lock included) to recover in. */
async function restart(t: TestContext, kill: Kill, ctx: Context): Promise<{ kctx: Context; km: FakeMac; kfs: MacRootFs; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'hal-crash-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await cp(kill.root, root, { recursive: true, verbatimSymlinks: true });
  const kfs = new MacRootFs(root);
  const km = kill.mac.copyTo(kfs);
  return { kctx: { ...ctx, runner: km, fs: kfs }, km, kfs, root };
}

test('up killed after each journaled step (no state.json yet): down undoes it — from the intent record, and from the markers alone when the record is gone too; a fresh up converges', async (t) => {
  // Not the default address, so each recovery has to read it from a marker (the pf rules come first).
  const changes: Partial<Desired> = { ip: '10.254.254.253', hostsFile: true, exposes: [REDIS_PF] };
  const { before, kills, ctx } = await killedAfterEachStep(
    t,
    async () => undefined,
    (c) => up(c, changes),
  );
  assert.ok(kills.length >= 8, `every step of up was journaled (${kills.length})`);

  for (const [i, kill] of kills.entries()) {
    for (const variant of ['intent', 'markers only', 'up again'] as const) {
      const { kctx, km, kfs, root } = await restart(t, kill, ctx);
      const where = `killed after step ${i + 1} of ${kills.length}, ${variant}`;
      assert.equal(await kfs.exists(STATE_PATH), false, `${where}: no state yet`);
      assert.equal(await kfs.exists(INTENT_PATH), true, `${where}: the intent record is there`);
      if (variant === 'markers only') await kfs.remove(INTENT_PATH);
      if (variant === 'up again') {
        const res = await up(kctx, changes);
        assert.match(res.plan.notes.map((n) => n.text).join('\n'), /was interrupted: this run finishes or undoes it/, where);
        assert.deepEqual((await up(kctx, changes)).plan.steps, [], `${where}: converged`);
      }
      const res = await down(kctx);
      if (variant === 'intent')
        assert.match(
          res.plan.notes.map((n) => n.text).join('\n'),
          /the last change \(`up`, started .*\) was interrupted: removing what it could have installed/,
          where,
        );
      if (variant === 'markers only') assert.match(recoveredNote(res), /state\.json is missing: recovered from hostalias's markers/, where);
      assert.deepEqual(km.system(), before.system, `${where}: kernel and launchd as before up`);
      assert.deepEqual(await files(root), before.files, `${where}: files as before up`);
      assert.deepEqual((await down(kctx)).plan.steps, [], `${where}: then already down`);
    }
  }
});

test('down killed after each journaled step (state.json still there): the next down finishes it; with the state gone too, the markers do', async (t) => {
  const changes: Partial<Desired> = { ip: '10.254.254.253', hostsFile: true, exposes: [REDIS_PF] };
  const { before, kills, ctx } = await killedAfterEachStep(
    t,
    async (c) => void (await up(c, changes)),
    (c) => down(c),
  );
  assert.ok(kills.length >= 8, `every step of down was journaled (${kills.length})`);
  for (const [i, kill] of kills.entries()) {
    for (const variant of ['intent', 'markers only'] as const) {
      const { kctx, km, kfs, root } = await restart(t, kill, ctx);
      const where = `down killed after step ${i + 1} of ${kills.length}, ${variant}`;
      assert.equal(await kfs.exists(INTENT_PATH), true, `${where}: the intent record is there`);
      if (variant === 'markers only') {
        await kfs.remove(INTENT_PATH);
        await kfs.remove(STATE_PATH);
      }
      const res = await down(kctx);
      if (variant === 'intent') assert.match(res.plan.notes.map((n) => n.text).join('\n'), /the last change \(`down`, started .*\) was interrupted/, where);
      // Killed after its last step, down left nothing to find but its record and the state.
      if (variant === 'markers only' && i < kills.length - 1)
        assert.match(recoveredNote(res), /state\.json is missing: recovered from hostalias's markers/, where);
      assert.deepEqual(km.system(), before.system, `${where}: kernel and launchd as before up`);
      assert.deepEqual(await files(root), before.files, `${where}: files as before up`);
      assert.deepEqual((await down(kctx)).plan.steps, [], `${where}: then already down`);
    }
  }
});
