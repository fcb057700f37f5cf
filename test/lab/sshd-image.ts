/**
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
import { writeBusyboxRootfsTar, type Dockerd } from './dockerd.js';

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

export async function buildSshdImage(d: Dockerd): Promise<string> {
  const work = await mkdtemp(`${LAB_TMP_PREFIX}sshd-`);
  try {
    await writeFile(join(work, 'owner.pid'), `${process.pid}\n`);
    await chmod(work, 0o755);
    const debs = join(work, 'debs');
    await mkdir(debs);
    await chmod(debs, 0o777); // apt-get download runs as _apt
    await execArgv(['apt-get', 'download', 'openssh-server'], { cwd: debs, timeoutMs: 120_000 });
    const deb = (await readdir(debs)).find((f) => f.startsWith('openssh-server_') && f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download openssh-server left no .deb (run apt-get update first)');
    const unpacked = join(work, 'deb');
    await execArgv(['dpkg-deb', '-x', join(debs, deb), unpacked]);
    const sshd = join(unpacked, 'usr/sbin/sshd');

    await writeBusyboxRootfsTar(work);
    const rootfs = join(work, 'rootfs');
    await mkdir(join(rootfs, 'usr/sbin'), { recursive: true });
    await copyFile(sshd, join(rootfs, 'usr/sbin/sshd'));
    await chmod(join(rootfs, 'usr/sbin/sshd'), 0o755);
    const ldd = await execArgv(['ldd', sshd]);
    const missing = ldd.stdout.split('\n').filter((l) => l.includes('not found'));
    if (missing.length > 0) throw new Error(`sshd needs libraries this machine lacks:\n${missing.join('\n')}\ninstall their Debian packages (apt-get install …) and run again`);
    for (const m of ldd.stdout.matchAll(/(\/\S+\.so[^\s]*)/g)) await copyWithParents(m[1] as string, rootfs);
    // sshd re-execs itself by absolute path and needs its privilege-separation user and directory.
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n');
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
    const tar = join(work, 'sshd.tar');
    await execArgv(['tar', '-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
    await d.docker(['import', '--change', 'CMD ["/usr/sbin/sshd", "-D", "-e"]', '--change', 'EXPOSE 22', tar, SSHD_LAB_IMAGE], { timeoutMs: 120_000 });
    return SSHD_LAB_IMAGE;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
