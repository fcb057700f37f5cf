import type { Desired } from '../../model/config.js';
import { usageError } from '../../model/errors.js';
import { USER_NAME } from '../../model/state-schema.js';
import type { UpFlagExtension } from './alias.js';

/** `--dns-user a,b` as a list; '' is none. Pure; throws a usage error for a name useradd would refuse. */
export function parseDnsUsers(text: string): string[] {
  const users = text
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  for (const u of users)
    if (!USER_NAME.test(u)) throw usageError(`"${u}" is not a user name`, 'give login names, e.g. --dns-user alice,bob (or --dns-user "" for none)');
  return [...new Set(users)];
}

/**
 * `up --dns` / `--no-dns` / `--dns-user`. Turning it on through sudo picks the user who ran sudo
 * (SUDO_USER) for the rootless engines when no --dns-user is given.
 */
export function dnsUpFlags(env: Record<string, string | undefined>): UpFlagExtension {
  return {
    add(cmd) {
      cmd
        .option('--dns', "a DNS resolver on the alias that every container engine uses: the names, the host's /etc/hosts and its resolvers")
        .option('--no-dns', 'remove the resolver and put the engines’ DNS settings back as they were')
        .option('--dns-user <users>', "these users' rootless Docker and Podman use the resolver too (comma list; default with sudo: the user who ran it)");
    },
    changes(flags) {
      const dns = typeof flags['dns'] === 'boolean' ? flags['dns'] : undefined;
      const given = typeof flags['dnsUser'] === 'string' ? parseDnsUsers(flags['dnsUser']) : undefined;
      const sudoUser = env['SUDO_USER'];
      const fromSudo = dns === true && given === undefined && sudoUser && sudoUser !== 'root' && USER_NAME.test(sudoUser) ? [sudoUser] : undefined;
      return { dns, dnsUsers: given ?? fromSudo } as Partial<Desired>;
    },
  };
}
