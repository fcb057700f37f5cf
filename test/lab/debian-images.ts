/**
 * Images made from Debian's own binaries, for tests and benchmarks that need more than busybox.
 *
 * The sshd image Testcontainers' exposeHostPorts needs (its default, testcontainers/sshd, can't be
 * pulled here), made from Debian's own openssh-server: the package is fetched with
 * `apt-get download` into a temp dir (nothing is installed on the machine), unpacked with
 * `dpkg-deb -x`, and /usr/sbin/sshd goes into the lab's busybox rootfs with the libraries `ldd`
 * lists, host keys made with ssh-keygen, and a config like the upstream image's: root logs in
 * with Testcontainers' fixed password (hashed here with `openssl passwd`: Debian's static busybox
 * has no chpasswd), TCP forwarding on, GatewayPorts yes (remote forwards listen
 * on the container's address, where other containers reach them). Imported with `docker import`.
 */
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execArgv } from './exec.js';
import { LAB_TMP_PREFIX } from './cleanup.js';
import { tarRootfs, writeBusyboxRootfs, type Dockerd } from './dockerd.js';

export const SSHD_LAB_IMAGE = 'hostalias-lab/sshd:debian';

const SSHD_CONFIG = `Port 22
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
GatewayPorts yes
PermitTunnel no
X11Forwarding no
UseDNS no
PidFile /run/sshd.pid
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ecdsa_key
`;

/** The password Testcontainers logs in with (PortForwarderInstance.PASSWORD, also passed as $PASSWORD). */
const PASSWORD = 'root';

async function copyWithParents(from: string, rootfs: string): Promise<void> {
  const to = join(rootfs, from);
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to);
}

/** `apt-get download PKG` + `dpkg-deb -x` into WORK/PKG (nothing is installed); returns that folder. */
async function unpackDeb(work: string, pkg: string): Promise<string> {
  const debs = join(work, `${pkg}-deb`);
  await mkdir(debs);
  await chmod(debs, 0o777); // apt-get download runs as _apt
  await execArgv(['apt-get', 'download', pkg], { cwd: debs, timeoutMs: 120_000 });
  const deb = (await readdir(debs)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb (run apt-get update first)`);
  const unpacked = join(work, pkg);
  await execArgv(['dpkg-deb', '-x', join(debs, deb), unpacked]);
  return unpacked;
}

/** Copies `binary` to `rootfs/dest` with every library `ldd` lists, at the same paths. */
async function addBinary(binary: string, rootfs: string, dest: string): Promise<void> {
  await mkdir(dirname(join(rootfs, dest)), { recursive: true });
  await rm(join(rootfs, dest), { force: true });
  await copyFile(binary, join(rootfs, dest));
  await chmod(join(rootfs, dest), 0o755);
  const ldd = await execArgv(['ldd', binary]);
  const missing = ldd.stdout.split('\n').filter((l) => l.includes('not found'));
  if (missing.length > 0)
    throw new Error(`${dest} needs libraries this machine lacks:\n${missing.join('\n')}\ninstall their Debian packages (apt-get install …) and run again`);
  for (const m of ldd.stdout.matchAll(/(\/\S+\.so[^\s]*)/g)) await copyWithParents(m[1] as string, rootfs);
}

async function newWork(tag: string): Promise<string> {
  const work = await mkdtemp(`${LAB_TMP_PREFIX}${tag}-`);
  await writeFile(join(work, 'owner.pid'), `${process.pid}\n`);
  await chmod(work, 0o755);
  return work;
}

export async function buildSshdImage(d: Dockerd): Promise<string> {
  const work = await newWork('sshd');
  try {
    const sshd = join(await unpackDeb(work, 'openssh-server'), 'usr/sbin/sshd');
    const rootfs = await writeBusyboxRootfs(work);
    await addBinary(sshd, rootfs, 'usr/sbin/sshd');
    // sshd re-execs itself by absolute path and needs its privilege-separation user and directory.
    await writeFile(
      join(rootfs, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    const hash = (await execArgv(['openssl', 'passwd', '-6', '-stdin'], { input: `${PASSWORD}\n` })).stdout.trim();
    await writeFile(join(rootfs, 'etc/shadow'), `root:${hash}:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n`, { mode: 0o600 });
    await mkdir(join(rootfs, 'run/sshd'), { recursive: true, mode: 0o755 });
    await mkdir(join(rootfs, 'var/empty'), { recursive: true });
    const etcSsh = join(rootfs, 'etc/ssh');
    await mkdir(etcSsh, { recursive: true });
    await writeFile(join(etcSsh, 'sshd_config'), SSHD_CONFIG);
    for (const type of ['ed25519', 'rsa', 'ecdsa']) {
      await execArgv(['ssh-keygen', '-q', '-t', type, '-N', '', '-C', 'hostalias-lab', '-f', join(etcSsh, `ssh_host_${type}_key`)]);
    }
    const tar = await tarRootfs(rootfs, join(work, 'sshd.tar'));
    await d.docker(['import', '--change', 'CMD ["/usr/sbin/sshd", "-D", "-e"]', '--change', 'EXPOSE 22', tar, SSHD_LAB_IMAGE], { timeoutMs: 120_000 });
    return SSHD_LAB_IMAGE;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A stand-in for `alpine:3.20` (which can't be pulled here), so the example test of docs/testcontainers.md runs as
 * written: the lab's busybox rootfs with Debian's dynamically linked busybox (its `wget` works in a
 * minimal image; the static build's crashes) and the libraries it needs. Only ever tagged in a
 * private lab dockerd.
 */
export function buildAlpineStandIn(d: Dockerd, tag = 'alpine:3.20'): Promise<string> {
  return buildToolImage(d, tag, []);
}

/**
 * A stand-in for an image that can't be pulled here (`postgres:16` for its psql, `redis:7` for its
 * redis-cli): the alpine stand-in above plus this machine's own binaries, each at `to` with the
 * libraries `ldd` lists. Only ever tagged in a private lab dockerd.
 */
export async function buildToolImage(d: Dockerd, tag: string, binaries: ReadonlyArray<{ from: string; to: string }>): Promise<string> {
  const work = await newWork('img');
  try {
    const busybox = join(await unpackDeb(work, 'busybox'), 'bin/busybox');
    const rootfs = await writeBusyboxRootfs(work);
    await addBinary(busybox, rootfs, 'bin/busybox');
    for (const b of binaries) await addBinary(b.from, rootfs, b.to);
    const tar = await tarRootfs(rootfs, join(work, 'image.tar'));
    await d.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, tag], { timeoutMs: 120_000 });
    return tag;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
