/**
 * The lab of the `up --dns` tests: a namespace whose "host" has a split-DNS resolver on a loopback
 * address (Debian's dnsmasq, as a process: 127.0.0.2, standing in for a VPN client's), a second one
 * on a non-loopback address (198.51.100.53 on lo, the fallback engines get), its own
 * /etc/hosts and /etc/resolv.conf under the --files-root folder, and the resolver started from
 * the unit `up --dns` wrote, as systemd would run it (ExecStart, as an unprivileged user with only
 * CAP_NET_BIND_SERVICE, like the unit's DynamicUser). Every address is inside the namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { onLines, stopChild, which } from '../lab/exec.js';
import type { Netns } from '../lab/netns.js';
import { execStart, rooted, tempRoot } from '../support/e2e.js';

export const SPLIT_DNS = '127.0.0.2';
export const FALLBACK_DNS = '198.51.100.53';
/** Names only the split resolver knows, one the host's /etc/hosts has (twice), and one nobody has. */
export const HOSTS_TEXT =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n192.0.2.10\tfromhosts.example fh\n192.0.2.11\tmulti.example\n192.0.2.12\tmulti.example\n';
export const NAMES = [
  'host.docker.internal',
  'local_host',
  'split.corp.example',
  'vpn-only.corp.example',
  'fromhosts.example',
  'fh',
  'multi.example',
  'nothere.corp.example',
];

export const dnsmasqMissing = which('dnsmasq', `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`) === undefined ? ['dnsmasq (dnsmasq-base)'] : [];

/**
 * Starts dnsmasq in `ns` on `address` (or, `wildcard`, on 0.0.0.0:53 as a stock dnsmasq does):
 * the corp.example zone (NXDOMAIN for names it lacks), nothing else.
 */
export async function startDnsmasq(ns: Netns, dir: string, address: string | 'wildcard'): Promise<ChildProcess> {
  const child = ns.spawn([
    'dnsmasq',
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    ...(address === 'wildcard' ? [] : ['--bind-interfaces', `--listen-address=${address}`]),
    `--pid-file=${join(dir, `dnsmasq-${address}.pid`)}`,
    '--local=/corp.example/',
    '--address=/split.corp.example/198.51.100.7',
    '--host-record=vpn-only.corp.example,198.51.100.8',
    '--log-facility=-',
  ]);
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  for (let i = 0; i < 50; i++) {
    if (err.includes('started')) break;
    if (child.exitCode !== null) throw new Error(`dnsmasq on ${address} exited: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

export interface DnsLab {
  ns: Netns;
  root: string;
  /** Starts the resolver from the written unit; resolves once it listens. */
  startResolver(): Promise<{ child: ChildProcess; argv: string[] }>;
}

/** The namespace's resolvers and files; the caller has made `ns`. */
export async function dnsLab(t: TestContext, ns: Netns, tag: string): Promise<DnsLab> {
  const root = await tempRoot(t, tag);
  await chmod(root, 0o755); // the resolver runs as nobody, as the unit's DynamicUser
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/hosts'), HOSTS_TEXT);
  await writeFile(join(root, 'etc/resolv.conf'), `nameserver ${SPLIT_DNS}\nnameserver ${FALLBACK_DNS}\n`);
  await ns.exec(['ip', 'addr', 'add', `${SPLIT_DNS}/8`, 'dev', 'lo']);
  // Not a loopback address, though on lo (this kernel has no dummy interfaces): containers reach it through their gateway.
  await ns.exec(['ip', 'addr', 'add', `${FALLBACK_DNS}/32`, 'dev', 'lo']);
  await startDnsmasq(ns, root, SPLIT_DNS);
  await startDnsmasq(ns, root, FALLBACK_DNS);
  return {
    ns,
    root,
    async startResolver() {
      const unit = await readFile(join(root, 'etc/systemd/system/hostalias-dns.service'), 'utf8');
      const argv = [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=+net_bind_service',
        '--ambient-caps=+net_bind_service',
        '--',
        ...rooted(execStart(unit), root),
        '--files-root',
        root,
      ];
      const child = ns.spawn(argv);
      t.after(() => stopChild(child, 3000));
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`the resolver did not start: ${out}`)), 30_000);
        onLines(child.stdout, (l) => {
          out += `${l}\n`;
          if (l.includes('listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the resolver exited (${code}): ${out}`));
        });
      });
      return { child, argv };
    },
  };
}
