/**
 * Shared scenario for the kernel `expose` / LAN guard e2e files (one dockerd per file): a "host"
 * namespace with a real dockerd, 127.0.0.1-only servers, busybox containers, and a "LAN
 * neighbour" namespace routed to the alias through a veth (198.51.100.0/24, TEST-NET-2).
 * Traffic stays inside namespaces this file creates.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { buildBusyboxImage, startDockerd, type Dockerd } from '../lab/dockerd.js';
import { sleep } from '../lab/exec.js';
import { linkNetns, runCli, startReplyServer, tcpRequest, withNetns, type Netns, type ReplyServer } from '../lab/netns.js';
import { tempRoot } from '../support/e2e.js';

export const ALIAS = '10.254.254.254';

export interface ExposeLab {
  host: Netns;
  lan: Netns;
  d: Dockerd;
  image: string;
  root: string;
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** What a container on `network` reads from ALIAS:port over TCP ('' when refused/timed out). */
  containerTcp(port: number, network?: string): Promise<string>;
  containerUdp(port: number, network?: string): Promise<string>;
  /** The LAN neighbour connects to ALIAS:port: true when it got the reply. */
  lanReaches(port: number): Promise<boolean>;
  routeLocalnet(iface: string): Promise<number>;
}

/**
 * Busybox has no UDP netcat, but its nslookup takes SERVER:PORT. This UDP server answers every
 * DNS A query with the address it saw the query come from, so the container prints the source
 * the service saw after DNAT/SNAT, and a reply proves the way back works.
 */
const UDP_SERVER_JS = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (q, r) => {
  let end = 12; while (q[end] !== 0) end += q[end] + 1; end += 5;
  const head = Buffer.from(q.subarray(0, 12)); head.writeUInt16BE(0x8180, 2); head.writeUInt16BE(1, 4);
  const qtype = q.readUInt16BE(end - 4);
  head.writeUInt16BE(qtype === 1 ? 1 : 0, 6); head.writeUInt32BE(0, 8);
  const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...r.address.split('.').map(Number)]);
  s.send(Buffer.concat([head, q.subarray(12, end), ...(qtype === 1 ? [ans] : [])]), r.port, r.address);
});
s.bind(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

export async function startUdpServer(ns: Netns, port: number): Promise<void> {
  const child = ns.spawn([process.execPath, '-e', UDP_SERVER_JS, '--', String(port)]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('udp server did not start')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startExposeLab(t: TestContext, tag: string): Promise<ExposeLab> {
  const host = await withNetns(t, tag);
  const lan = await withNetns(t, `${tag}lan`);
  const d = await startDockerd(host);
  t.after(() => d.stop());
  const image = await buildBusyboxImage(d);
  const root = await tempRoot(t, tag);
  await linkNetns(host, lan, '198.51.100.1/24', '198.51.100.2/24');
  await lan.exec(['ip', 'route', 'add', `${ALIAS}/32`, 'via', '198.51.100.1']);
  const run = async (network: string | undefined, script: string): Promise<string> => {
    const net = network ? ['--network', network] : [];
    const r = await d.docker(['run', '--rm', ...net, image, 'sh', '-c', script], { allowFail: true, timeoutMs: 30_000 });
    return r.stdout.trim();
  };
  return {
    host,
    lan,
    d,
    image,
    root,
    cli: (args) => runCli(host, [...args, '--files-root', root], { env: d.env }),
    // `sleep 1 |` keeps nc's stdin open until the server's reply has arrived.
    containerTcp: (port, network) => run(network, `sleep 1 | nc -w 2 ${ALIAS} ${port}`),
    containerUdp: async (port, network) => {
      const out = await run(network, `timeout 5 nslookup -type=a probe ${ALIAS}:${port}`);
      const m = /Name:\s*probe\s+Address:\s*(\S+)/.exec(out);
      return m ? `udp-from=${m[1]}` : '';
    },
    lanReaches: async (port) => (await tcpRequest(lan, ALIAS, port, { timeoutMs: 1500 })).code === 0,
    routeLocalnet: async (iface) => Number((await host.exec(['sysctl', '-n', `net.ipv4.conf.${iface}.route_localnet`])).stdout.trim()),
  };
}

export async function startServers(lab: ExposeLab): Promise<{ local: ReplyServer; keep: ReplyServer; any: ReplyServer; udpPort: number }> {
  const local = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'local-ok\n' });
  const keep = await startReplyServer(lab.host, { host: '127.0.0.1', reply: 'keep-ok\n' });
  const any = await startReplyServer(lab.host, { host: '0.0.0.0', reply: 'any-ok\n' });
  const udpPort = 40000 + (process.pid % 20000);
  await startUdpServer(lab.host, udpPort);
  return { local, keep, any, udpPort };
}

/** Retries `probe` until it returns true or `ms` pass (bounded). */
export async function eventually(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > end) return false;
    await sleep(300);
  }
}

export function ok(r: { code: number; stdout: string; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what}: ${r.stderr}\n${r.stdout}`);
}
