/**
 * An image with the host's own glibc `getent` (the binary, the libraries `ldd` names, an
 * nsswitch.conf of `hosts: files dns`) on top of the lab's busybox root filesystem, so a container
 * resolves names exactly as glibc on the host does. Built by `docker import`, no registry.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { tarRootfs, writeBusyboxRootfs, type Dockerd } from './dockerd.js';
import { execArgv, type ExecResult } from './exec.js';
import type { Netns } from './netns.js';

export const GETENT = '/usr/bin/getent';

/** The files of `binary` and the shared libraries it loads (ldd), as absolute paths. */
async function withLibraries(binary: string): Promise<string[]> {
  const ldd = await execArgv(['ldd', binary]);
  const libs = [...ldd.stdout.matchAll(/(\/\S+)/g)].map((m) => m[1] ?? '').filter((p) => p !== '');
  return [binary, ...new Set(libs)];
}

/** Imports the getent image into `d` (once) and returns its tag. */
export async function buildGetentImage(d: Dockerd, tag = 'hostalias-getent:test'): Promise<string> {
  const have = await d.docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFail: true });
  if (have.code === 0) return tag;
  const work = await mkdtemp(`${LAB_TMP_PREFIX}getent-`);
  try {
    await d.docker(['import', '--change', 'CMD ["/bin/sh"]', await writeGetentRootfsTar(work), tag], { timeoutMs: 120_000 });
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The getent image's root filesystem as a tar in `work` (for `podman import` too); returns its path. */
export async function writeGetentRootfsTar(work: string): Promise<string> {
  const root = await writeBusyboxRootfs(work);
  for (const f of await withLibraries(GETENT)) {
    await mkdir(join(root, dirname(f)), { recursive: true });
    await copyFile(f, join(root, f));
  }
  await writeFile(join(root, 'etc', 'nsswitch.conf'), 'hosts: files dns\n');
  await writeFile(join(root, 'etc', 'host.conf'), 'multi on\n');
  return tarRootfs(root, join(work, 'rootfs.tar'));
}

/** A shell script that prints `== NAME` then the addresses `getent ahostsv4 NAME` gives, for each name. */
export function getentScript(names: readonly string[]): string {
  return names.map((n) => `echo "== ${n}"; getent ahostsv4 ${n} | awk '{print $1}' | sort -u`).join('; ');
}

/** What getentScript printed: name → its addresses (none for a name that does not resolve). */
export function parseGetent(out: string): Map<string, string[]> {
  return new Map(
    out
      .split('== ')
      .filter((b) => b.trim() !== '')
      .map((b) => {
        const [name, ...addrs] = b.trim().split('\n');
        return [name ?? '', addrs.filter((a) => a !== '')] as const;
      }),
  );
}

/**
 * getentScript run on the host side of `ns` as a host whose files are ROOT/etc/hosts and
 * ROOT/etc/resolv.conf (bound over /etc's in a private mount namespace, gone when it exits).
 */
export function getentOnHost(ns: Netns, root: string, names: readonly string[]): Promise<ExecResult> {
  return ns.exec([
    'unshare',
    '--mount',
    '--',
    'sh',
    '-c',
    `mount --bind ${root}/etc/hosts /etc/hosts && mount --bind ${root}/etc/resolv.conf /etc/resolv.conf && ${getentScript(names)}`,
  ]);
}
