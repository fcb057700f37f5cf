/**
 * A user whose node comes from nvm, with hostalias installed the way `npm install -g` lays it out
 * under nvm's prefix (the package, and a bin link to its `hostalias` launcher), passwordless sudo,
 * and Debian's user PATH behind nvm's (no /usr/sbin; sudo's secure_path has no nvm). Made for one
 * test: the user, its sudoers entry and its files go afterwards.
 */
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempRoot } from '../support/e2e.js';
import { execArgv, type ExecResult } from './exec.js';
import { pidsOfUid } from './lab-user.js';
import { killPidsSync } from './cleanup.js';
import type { Netns } from './netns.js';

export interface NvmUser {
  name: string;
  home: string;
  /** nvm's node for the user: ~/.nvm/versions/node/vX/bin/node. */
  node: string;
  /** The installed CLI entry: …/lib/node_modules/hostalias/dist/cli/main.js. */
  main: string;
  /** The user's PATH: nvm's bin, then Debian's default user PATH. */
  path: string;
  /** Runs argv as the user in `ns` with a clean environment (HOME, PATH, LC_ALL and `env`). */
  run(ns: Netns, argv: readonly string[], env?: Record<string, string>): Promise<ExecResult>;
  /** Runs a pasted line through sh as the user in `ns`. */
  paste(ns: Netns, line: string, env?: Record<string, string>): Promise<ExecResult>;
}

/** Installs `tarball` (npm pack) for a new user under ~/.nvm, with `ALL=(root) NOPASSWD: ALL`. */
export async function createNvmUser(t: Pick<TestContext, 'after'>, tarball: string): Promise<NvmUser> {
  const base = await tempRoot(t, 'nvmuser');
  await chmod(base, 0o755);
  const home = join(base, 'home');
  const prefix = join(home, `.nvm/versions/node/${process.version}`);
  const bin = join(prefix, 'bin');
  const pkg = join(prefix, 'lib/node_modules/hostalias');
  await mkdir(bin, { recursive: true });
  await mkdir(pkg, { recursive: true });
  await copyFile(process.execPath, join(bin, 'node'));
  await chmod(join(bin, 'node'), 0o755);
  await execArgv(['tar', '-xzf', tarball, '-C', pkg, '--strip-components=1']);
  // package.json's bin: the shell launcher, linked as npm links it.
  await symlink('../lib/node_modules/hostalias/dist/cli/hostalias', join(bin, 'hostalias'));
  const name = `halnvm${process.pid % 100000}${Math.floor(Math.random() * 100)}`;
  await execArgv(['useradd', '--home-dir', home, '--no-create-home', '--shell', '/bin/sh', name]);
  const uid = Number((await execArgv(['id', '-u', name])).stdout.trim());
  const sudoers = `/etc/sudoers.d/hostalias-test-${name}`;
  t.after(async () => {
    await rm(sudoers, { force: true });
    killPidsSync(pidsOfUid(uid));
    await execArgv(['userdel', name], { allowFail: true });
  });
  await writeFile(sudoers, `${name} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  const check = await execArgv(['visudo', '-c', '-f', sudoers], { allowFail: true });
  assert.equal(check.code, 0, check.stderr);
  await execArgv(['chown', '-R', `${name}:`, home]);
  const path = `${bin}:/usr/local/bin:/usr/bin:/bin`;
  const run = (ns: Netns, argv: readonly string[], env: Record<string, string> = {}) =>
    ns.exec(
      [
        'runuser',
        '-u',
        name,
        '--',
        '/usr/bin/env',
        '-i',
        `HOME=${home}`,
        `PATH=${path}`,
        'LC_ALL=C',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      { allowFail: true, timeoutMs: 180_000, cwd: home },
    );
  return {
    name,
    home,
    node: join(bin, 'node'),
    main: join(pkg, 'dist/cli/main.js'),
    path,
    run,
    paste: (ns, line, env) => run(ns, ['/bin/sh', '-c', line], env),
  };
}
