/**
 * `up --dns` with real Podman 4.3, rootful and rootless (slirp4netns), each in a lab namespace
 * with the DNS lab's split resolver (dnsmasq on 127.0.0.2) as the host's: a plain `podman run`
 * (no hostalias flag) reaches a 127.0.0.1 service, exposed, by host.docker.internal; glibc's
 * getent in a plain container gives the same addresses as the host for names only the split
 * resolver knows; doctor's dns check reads the file; `down` gives containers.conf back byte for byte.
 *
 * Which containers.conf Podman reads: the lab sets CONTAINERS_CONF (its default_ulimits, because
 * this sandbox lacks CAP_SYS_RESOURCE), and Podman then reads only that file. So CONTAINERS_CONF
 * names the very file `up --dns` edits: for rootful, the --files-root copy of
 * /etc/containers/containers.conf; for rootless, the user's own ~/.config/containers/containers.conf
 * (`--dns-user`). The lab's settings are that file's "original" content, which `down` must restore.
 *
 * SAFETY: every address is inside namespaces this file creates (the alias, 127.0.0.1, 127.0.0.2,
 * 198.51.100.53 on lo); containers' DNS goes to the alias, never off the namespace. The user,
 * Podman's files and every process are removed at the end (the Podman lab's stop()).
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LAB_TMP_PREFIX } from '../lab/cleanup.js';
import { getentOnHost, getentScript, parseGetent, writeGetentRootfsTar } from '../lab/getent-image.js';
import { runCli, startReplyServer, withNetns } from '../lab/netns.js';
import { podmanPrerequisites, startPodman, type Podman } from '../lab/podman.js';
import { ALIAS, ok } from './expose-lab.js';
import { dnsLab, dnsmasqMissing, FALLBACK_DNS } from './dns-lab.js';

/** Names only the split resolver knows, with its answers, and the recorded ones. */
const EXPECTED = new Map([
  ['host.docker.internal', [ALIAS]],
  ['split.corp.example', ['198.51.100.7']],
  ['vpn-only.corp.example', ['198.51.100.8']],
  ['fromhosts.example', ['192.0.2.10']],
]);
const SPLIT_ONLY = ['split.corp.example', 'vpn-only.corp.example'];

interface Finding {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
}

async function podmanDns(t: TestContext, rootless: boolean): Promise<void> {
  const tag = rootless ? 'pdnsu' : 'pdnsr';
  const ns = await withNetns(t, tag);
  const lab = await dnsLab(t, ns, tag);
  const { root } = lab;
  const pm: Podman = await startPodman(ns, {
    rootless,
    containersConf: (home) => (rootless ? join(home, '.config/containers/containers.conf') : join(root, 'etc/containers/containers.conf')),
  });
  // Before the namespace goes: podman rm runs inside it.
  ns.onDestroy(() => pm.stop());
  const confPath = pm.vars['CONTAINERS_CONF'] ?? '';
  const original = await readFile(confPath, 'utf8');
  const env = { ...process.env, ...pm.vars, DOCKER_HOST: 'unix:///nonexistent/hostalias-podman/docker.sock' };
  const cli = (args: readonly string[]) => runCli(ns, [...args, '--files-root', root], { env, timeoutMs: 120_000 });
  // Rootful Podman's default network (cni-podman0) exists once a container has used it.
  ok(await pm.podman(['run', '--rm', pm.image, 'true']), 'first podman run');

  const dnsArgs = ['--dns', ...(rootless ? ['--dns-user', pm.user ?? ''] : [])];
  const up = await cli(['up', ...dnsArgs]);
  ok(up, `up ${dnsArgs.join(' ')}`);
  assert.match(up.stdout, /Podman: containers created from now on ask the resolver/);
  const written = await readFile(confPath, 'utf8');
  assert.match(
    written,
    new RegExp(`^\\[containers\\]\\ndns_servers = \\["${ALIAS.replaceAll('.', '\\.')}", "${FALLBACK_DNS.replaceAll('.', '\\.')}"\\]\\n`, 'm'),
  );
  assert.equal(written.replace(/^dns_servers = .*\n/m, ''), original, 'only the dns_servers line is added');
  await lab.startResolver();

  const svc = await startReplyServer(ns, { host: '127.0.0.1', reply: 'host-ok\n' });
  ok(await cli(['expose', String(svc.port)]), 'expose');

  await t.test(`plain podman run (${rootless ? 'rootless' : 'rootful'}) reaches the exposed 127.0.0.1 service by host.docker.internal`, async () => {
    const files = await pm.podman(['run', '--rm', pm.image, 'sh', '-c', 'cat /etc/resolv.conf; echo ==; cat /etc/hosts'], { timeoutMs: 60_000 });
    const [resolv = '', hosts = ''] = files.stdout.split('==\n');
    assert.match(resolv, new RegExp(`^nameserver ${ALIAS.replaceAll('.', '\\.')}$`, 'm'), `the container's resolv.conf:\n${resolv}`);
    assert.doesNotMatch(hosts, /host\.docker\.internal/, `the name comes from the resolver, not the container's /etc/hosts:\n${hosts}`);
    const r = await pm.podman(['run', '--rm', pm.image, 'sh', '-c', `sleep 1 | nc -w 5 host.docker.internal ${svc.port}`], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    assert.equal(r.stdout.trim(), 'host-ok', `${r.stderr}\nresolv.conf:\n${resolv}`);
  });

  await t.test('getent in a plain container gives the host’s addresses for names only the split resolver knows', async () => {
    const work = await mkdtemp(`${LAB_TMP_PREFIX}pdnsimg-`);
    try {
      await chmod(work, 0o755);
      ok(await pm.podman(['import', '--quiet', '--change', 'CMD ["/bin/sh"]', await writeGetentRootfsTar(work), 'hostalias-getent:test']), 'import getent');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const names = [...EXPECTED.keys()];
    const inContainer = await pm.podman(['run', '--rm', 'localhost/hostalias-getent:test', 'sh', '-c', getentScript(names)], { timeoutMs: 60_000 });
    const host = await getentOnHost(ns, root, SPLIT_ONLY);
    const c = parseGetent(inContainer.stdout);
    const h = parseGetent(host.stdout);
    for (const name of names) assert.deepEqual(c.get(name), EXPECTED.get(name), `container: ${name}\n${inContainer.stdout}`);
    for (const name of SPLIT_ONLY) assert.deepEqual(h.get(name), c.get(name), `host and container agree on ${name}`);
  });

  await t.test('doctor: the dns check finds the Podman file pointing at the resolver', async () => {
    const r = await cli(['doctor', '--json']);
    const dns = (JSON.parse(r.stdout) as { findings: Finding[] }).findings.filter((f) => f.id === 'dns');
    const engine = rootless ? `rootless Podman of ${pm.user}` : 'Podman (rootful)';
    const mine = dns.find((f) => f.message.startsWith(`${engine}: `));
    assert.equal(mine?.status, 'ok', JSON.stringify(dns));
    assert.match(
      mine?.message ?? '',
      new RegExp(`→ ${ALIAS.replaceAll('.', '\\.')}, ${FALLBACK_DNS.replaceAll('.', '\\.')}: its containers ask the resolver first`),
    );
    assert.deepEqual(
      dns.filter((f) => f.message.startsWith('CONTAINERS_CONF=')),
      [],
      'CONTAINERS_CONF names the file hostalias wrote: no warning',
    );
  });

  await t.test('down: containers.conf is byte-identical to before, and a new container no longer asks the alias', async () => {
    ok(await cli(['down']), 'down');
    assert.equal(await readFile(confPath, 'utf8'), original);
    const resolv = await pm.podman(['run', '--rm', pm.image, 'cat', '/etc/resolv.conf'], { timeoutMs: 60_000 });
    assert.doesNotMatch(resolv.stdout, new RegExp(`nameserver ${ALIAS.replaceAll('.', '\\.')}`), resolv.stdout);
  });
}

test(
  'up --dns with rootful Podman: plain podman run reaches the host by name, split DNS agrees with the host, down restores containers.conf',
  {
    timeout: 600_000,
    skip: [...dnsmasqMissing, ...podmanPrerequisites(false)].length ? `missing: ${[...dnsmasqMissing, ...podmanPrerequisites(false)].join(', ')}` : false,
  },
  (t) => podmanDns(t, false),
);

test(
  'up --dns --dns-user with rootless Podman (slirp4netns): the user’s own containers.conf, plain podman run, split DNS, down restores',
  {
    timeout: 600_000,
    skip: [...dnsmasqMissing, ...podmanPrerequisites(true)].length ? `missing: ${[...dnsmasqMissing, ...podmanPrerequisites(true)].join(', ')}` : false,
  },
  (t) => podmanDns(t, true),
);
