/**
 * An image with the host's own glibc `getent` (the binary, the libraries `ldd` names, an
 * nsswitch.conf of `hosts: files dns`) on top of the lab's busybox root filesystem, so a container
 * resolves names exactly as glibc on the host does. Built by `docker import`, no registry.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { tarRootfs, writeBusyboxRootfs, type Dockerd } from './dockerd.js';
import { execArgv } from './exec.js';

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
