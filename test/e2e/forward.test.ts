/**
 * `hostalias forward` end to end: a real dockerd in a lab namespace (the "host"), the alias added
 * by `up --root`, 127.0.0.1-only TCP and UDP servers that a container can't reach through the
 * alias until `forward` relays them; `forward --install` writes a unit that `down` removes; a
 * target that never answers (its ARP goes unanswered) resets the client after
 * --connect-timeout. All traffic stays inside the namespace this file creates.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildBusyboxImage, startDockerd } from '../lab/dockerd.js';
import { execArgv, stopChild } from '../lab/exec.js';
import { cliPath, runCli, startReplyServer, withNetns, type Netns } from '../lab/netns.js';
import { execStart, tempRoot } from '../support/e2e.js';

const ALIAS = '10.254.254.254';

const UDP_SERVER_JS = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send('udp-ok\\n', r.port, r.address));
s.bind(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

function waitLine(child: ChildProcess, needle: string, ms = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => reject(new Error(`no "${needle}" within ${ms} ms: ${buf} ${err}`)), ms);
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      const line = buf.split('\n').find((l) => l.includes(needle));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${needle}": ${err}`));
    });
  });
}

function spawnForward(ns: Netns, args: string[]): ChildProcess {
  return ns.spawn([process.execPath, cliPath(), 'forward', ...args, '--json']);
}

test('forward: a container reaches 127.0.0.1-only TCP and UDP servers through the alias', async (t) => {
  const ns = await withNetns(t, 'fwd');
  const d = await startDockerd(ns);
  t.after(() => d.stop());
  const image = await buildBusyboxImage(d);
  const root = await tempRoot(t, 'fwd');
  // DOCKER_HOST lets `up` find this dockerd's bridges, which the LAN guard admits.
  const up = await runCli(ns, ['up', '--files-root', root, '--persist', 'none'], { env: d.env });
  assert.equal(up.code, 0, up.stderr);

  const tcp = await startReplyServer(ns, { host: '127.0.0.1', reply: 'tcp-ok\n' });
  const udpPort = 41000 + (process.pid % 20000);
  const udp = ns.spawn([process.execPath, '-e', UDP_SERVER_JS, '--', String(udpPort)]);
  await waitLine(udp, 'ready');
  const container = async (script: string) =>
    (await d.docker(['run', '--rm', image, 'sh', '-c', script], { allowFail: true, timeoutMs: 30_000 })).stdout.trim();
  // `sleep 1 |` keeps nc's stdin open until the reply has arrived.
  const viaTcp = () => container(`sleep 1 | nc -w 2 ${ALIAS} ${tcp.port}`);
  // busybox's nc has no -u: send the datagram from node inside a running container's network
  // namespace (its traffic leaves through docker0 exactly like the container's own).
  const sleeper = (await d.docker(['run', '-d', '--rm', image, 'sleep', '120'])).stdout.trim();
  const pid = (await d.docker(['inspect', '--format', '{{.State.Pid}}', sleeper])).stdout.trim();
  const viaUdp = async () => {
    const js = `const s=require('node:dgram').createSocket('udp4');s.on('message',(m)=>{process.stdout.write(m);process.exit(0)});s.send('hi',${udpPort},'${ALIAS}');setTimeout(()=>process.exit(1),2000)`;
    return (await execArgv(['nsenter', `--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', js], { allowFail: true, timeoutMs: 10_000 })).stdout.trim();
  };

  assert.equal(await viaTcp(), '', 'before forward: the 127.0.0.1-only TCP server refuses the container');
  assert.equal(await viaUdp(), '', 'before forward: no UDP answer');

  // The alias comes from the state under --root; --workers 2 exercises the cluster path.
  const fwdTcp = spawnForward(ns, [String(tcp.port), '--files-root', root, '--workers', '2']);
  t.after(() => stopChild(fwdTcp));
  const listening = JSON.parse(await waitLine(fwdTcp, '"listening"')) as { listen: { host: string }; workers: number };
  assert.equal(listening.listen.host, ALIAS);
  assert.equal(listening.workers, 2);
  const fwdUdp = spawnForward(ns, [`${udpPort}/udp`, '--files-root', root]);
  t.after(() => stopChild(fwdUdp));
  await waitLine(fwdUdp, '"listening"');

  assert.equal(await viaTcp(), 'tcp-ok', 'through forward: TCP answers');
  assert.equal(await viaUdp(), 'udp-ok', 'through forward: UDP answers');
  assert.equal(tcp.connections.at(-1)?.remoteAddress, '127.0.0.1', 'the service sees a local client');

  assert.equal(await stopChild(fwdTcp), 0);
  assert.equal(await stopChild(fwdUdp), 0);
  assert.equal(await viaTcp(), '', 'after forward stops: refused again');
});

test('forward --install writes a unit (service calls skipped under --root); down removes it', async (t) => {
  const ns = await withNetns(t, 'fwdi');
  const root = await tempRoot(t, 'fwdi');
  await mkdir(join(root, 'run/systemd/system'), { recursive: true }); // a machine where systemd runs: the unit is installed
  const unit = join(root, 'etc/systemd/system/hostalias-forward-5432-tcp.service');
  const wants = join(root, 'etc/systemd/system/multi-user.target.wants/hostalias-forward-5432-tcp.service');
  const inst = await runCli(ns, ['forward', '5432', '--install', '--files-root', root, '--to', '127.0.0.1:15432']);
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(
    readFileSync(unit, 'utf8'),
    new RegExp(`^ExecStart=\\S+ \\S+main\\.js forward 5432/tcp --listen ${ALIAS.replace(/\./g, '\\.')} --to 127\\.0\\.0\\.1:15432$`, 'm'),
  );
  assert.ok(lstatSync(wants).isSymbolicLink());
  const again = await runCli(ns, ['forward', '5432', '--install', '--files-root', root, '--to', '127.0.0.1:15432', '--json']);
  assert.equal((JSON.parse(again.stdout) as { changed: boolean }).changed, false, 'installing again changes nothing');
  const status = JSON.parse((await runCli(ns, ['status', '--files-root', root, '--json'])).stdout) as {
    present: boolean;
    relays: Array<{ port: number; proto: string; dataPath: string; why: string }>;
  };
  assert.equal(status.present, true, '--install also brought the alias up');
  // The service runs the installed copy, so status loads that copy's addon for this arch.
  assert.deepEqual(
    status.relays.map((r) => [r.port, r.proto, r.dataPath, r.why]),
    [[5432, 'tcp', 'native', join(root, `usr/local/lib/hostalias/current/relay-linux-${process.arch}.node`)]],
  );
  const bad = await runCli(ns, ['forward', '99999', '--install', '--files-root', root]);
  assert.equal(bad.code, 2, 'bad port: usage error');
  const down = await runCli(ns, ['down', '--files-root', root]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(unit), false, 'down removed the unit');
  assert.throws(() => lstatSync(wants), /ENOENT/, 'down removed the wants link');
});

test('forward: a target that never answers resets the client after --connect-timeout', async (t) => {
  const ns = await withNetns(t, 'fwdt');
  // A veth whose peer has no address: ARP for .9 is never answered, so neither is the SYN.
  await ns.exec(['ip', 'link', 'add', 'hlsinka', 'type', 'veth', 'peer', 'name', 'hlsinkb']);
  await ns.exec(['ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'hlsinka']);
  await ns.exec(['ip', 'link', 'set', 'hlsinka', 'up']);
  await ns.exec(['ip', 'link', 'set', 'hlsinkb', 'up']);
  const fwd = spawnForward(ns, ['8080', '--listen', '127.0.0.1', '--to', '198.51.100.9:80', '--connect-timeout', '500', '--workers', '1']);
  t.after(() => stopChild(fwd));
  await waitLine(fwd, '"listening"');
  const probe = `
const s = require('node:net').connect(8080, '127.0.0.1');
const t0 = Date.now();
s.on('error', (e) => { console.log(e.code + ' ' + (Date.now() - t0)); });
s.on('close', () => process.exit(0));
setTimeout(() => { console.log('HANG'); process.exit(1); }, 10000);`;
  const r = await ns.exec([process.execPath, '-e', probe], { allowFail: true, timeoutMs: 20_000 });
  const [code, ms] = r.stdout.trim().split(' ');
  t.diagnostic(`client saw ${r.stdout.trim()} ms`);
  assert.equal(code, 'ECONNRESET');
  assert.ok(Number(ms) >= 400 && Number(ms) < 3000, `reset after ${ms} ms`);
});

// A 127.0.0.1 server that greets each client and keeps the connection open, so relayed connections stay held.
const HOLD_SERVER_JS = `
const srv = require('node:net').createServer((s) => { s.on('error', () => {}); s.write('ok\\n'); });
srv.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ listening: srv.address().port }) + '\\n'));
`;

// Opens a held client, then a second one while the first is open, then a third after the first closed.
const CAP_PROBE_JS = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const client = () => new Promise((resolve) => {
  const s = net.connect(port, host);
  let data = '';
  s.on('data', (b) => { data += b; if (data.includes('ok')) resolve({ s, got: 'ok' }); });
  s.on('error', () => {});
  s.on('close', () => resolve({ s, got: data.includes('ok') ? 'ok' : 'closed' }));
  setTimeout(() => resolve({ s, got: 'hang' }), 4000);
});
(async () => {
  const a = await client();
  const b = await client();
  a.s.destroy(); b.s.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const c = await client();
  c.s.destroy();
  console.log([a.got, b.got, c.got].join(' '));
  process.exit(0);
})();
`;

/**
 * The argv of a unit's ExecStart (plain words: no quoting needed here), with the installed copy
 * (node and main.js under /usr/local/lib/hostalias/current) swapped for this build's same pair.
 */
function execStartOf(unitText: string): string[] {
  assert.doesNotMatch(/^ExecStart=.*$/m.exec(unitText)?.[0] ?? '', /"/, 'ExecStart needs no quoting here');
  const [node, main, ...args] = execStart(unitText);
  assert.deepEqual([node, main], ['/usr/local/lib/hostalias/current/node', '/usr/local/lib/hostalias/current/main.js']);
  return [process.execPath, cliPath(), ...args];
}

test('forward --install keeps the relay options in the unit; installing again with others rewrites it; the unit runs with them', async (t) => {
  const ns = await withNetns(t, 'fwdo');
  const root = await tempRoot(t, 'fwdo');
  await mkdir(join(root, 'run/systemd/system'), { recursive: true }); // a machine where systemd runs
  const unitPath = join(root, 'etc/systemd/system/hostalias-forward-7000-tcp.service');
  const hold = ns.spawn([process.execPath, '-e', HOLD_SERVER_JS]);
  t.after(() => stopChild(hold));
  const target = (JSON.parse(await waitLine(hold, 'listening')) as { listening: number }).listening;
  const install = (opts: string[]) => runCli(ns, ['forward', '7000', '--install', '--files-root', root, '--to', `127.0.0.1:${target}`, ...opts, '--json']);

  const first = await install(['--workers', '2', '--max-connections', '5', '--schedule', 'round-robin', '--connect-timeout', '700', '--grace', '1']);
  assert.equal(first.code, 0, first.stderr);
  const wide = readFileSync(unitPath, 'utf8');
  assert.match(
    wide,
    /^ExecStart=.* forward 7000\/tcp --listen 10\.254\.254\.254 --to 127\.0\.0\.1:\d+ --workers 2 --schedule round-robin --connect-timeout 700 --max-connections 5 --grace 1$/m,
  );
  const same = await install(['--workers', '2', '--max-connections', '5', '--schedule', 'round-robin', '--connect-timeout', '700', '--grace', '1']);
  assert.equal((JSON.parse(same.stdout) as { changed: boolean }).changed, false, 'the same options again: nothing to do');

  const second = await install(['--max-connections', '1', '--idle-timeout', '30', '--grace', '1']);
  assert.equal(second.code, 0, second.stderr);
  assert.equal((JSON.parse(second.stdout) as { changed: boolean }).changed, true, 'other options: the unit changes');
  const narrow = readFileSync(unitPath, 'utf8');
  assert.match(
    narrow,
    /^ExecStart=.* forward 7000\/tcp --listen 10\.254\.254\.254 --to 127\.0\.0\.1:\d+ --idle-timeout 30 --max-connections 1 --grace 1$/m,
    'only the options given now',
  );

  const status = await runCli(ns, ['status', '--files-root', root]);
  assert.match(
    status.stdout,
    /^forwarded +10\.254\.254\.254:7000\/tcp → 127\.0\.0\.1:\d+ \(hostalias-forward-7000-tcp\.service, --idle-timeout 30 --max-connections 1 --grace 1, data path: C\)$/m,
  );
  const json = JSON.parse((await runCli(ns, ['status', '--files-root', root, '--json'])).stdout) as { forwards: Array<Record<string, unknown>> };
  assert.deepEqual(json.forwards, [{ port: 7000, proto: 'tcp', targets: [`127.0.0.1:${target}`], idleTimeoutS: 30, maxConnections: 1, graceS: 1 }]);

  // Run what each unit would run (systemd isn't running here): the cap of one connection is in
  // force under the second unit; under the first (cap 5) the same probe gets three answers.
  const probe = async (unitText: string) => {
    const relay = ns.spawn([...execStartOf(unitText), '--json']);
    try {
      const listening = JSON.parse(await waitLine(relay, '"listening"')) as { workers: number };
      const r = await ns.exec([process.execPath, '-e', CAP_PROBE_JS, '--', ALIAS, '7000'], { timeoutMs: 20_000 });
      return { workers: listening.workers, result: r.stdout.trim() };
    } finally {
      await stopChild(relay);
    }
  };
  assert.deepEqual(await probe(wide), { workers: 2, result: 'ok ok ok' }, 'first unit: 2 workers, no cap reached');
  assert.deepEqual(await probe(narrow), { workers: 1, result: 'ok closed ok' }, 'second unit: one worker holding at most one connection');

  const again = await install([]);
  assert.doesNotMatch(readFileSync(unitPath, 'utf8'), /--max-connections|--idle-timeout|--grace/, 'installing with no options: back to the defaults');
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await runCli(ns, ['down', '--files-root', root])).code, 0);
  assert.equal(existsSync(unitPath), false);
});
