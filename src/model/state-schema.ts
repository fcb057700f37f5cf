import { isIP } from 'node:net';
import * as v from 'valibot';
import { parseAliasIp, parseLabel, refuseName } from './address.js';
import { FORWARD_SCHEDULES, MAX_FORWARD_OPTION, MAX_WORKERS, PERSIST_KINDS } from './config.js';
import { parseIfaceName } from './expose.js';

/**
 * The schema of state.json: every value read back is held to the rules the command
 * line applies, so an edited or damaged file can't smuggle a newline into /etc/hosts or a
 * nonsense port into a firewall rule. Pure.
 */
const accepts = (parse: (s: string) => unknown) => (s: string) => {
  try {
    parse(s);
    return true;
  } catch {
    return false;
  }
};

const Ip = v.pipe(v.string(), v.check(accepts(parseAliasIp), 'not a usable IPv4 alias address'));
const Label = v.pipe(v.string(), v.check(accepts(parseLabel), 'not a valid label (lo: plus 1–12 characters)'));
const HostName = v.pipe(
  v.string(),
  v.check((s) => refuseName(s) === null, 'not an allowed host name'),
);
/** A login name as useradd(8) takes it (Debian's NAME_REGEX, with the trailing $ of machine accounts). */
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/;
const UserName = v.pipe(v.string(), v.regex(USER_NAME, 'not a user name'));
const Iface = v.pipe(v.string(), v.check(accepts(parseIfaceName), 'not an interface name'));
const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const Proto = v.picklist(['tcp', 'udp']);
// A forward target: HOST:PORT with a literal address, or a bare PORT (the loopback, 127.0.0.1 or ::1).
const Endpoint = v.pipe(
  v.string(),
  v.check((s) => {
    if (/^\d{1,5}$/.test(s)) return Number(s) >= 1 && Number(s) <= 65535;
    const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:]+):(\d{1,5})$/.exec(s);
    return m !== null && isIP(m[1] ?? '') !== 0 && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
  }, 'not HOST:PORT with a literal address, nor a port'),
);

const Expose = v.object({ port: Port, proto: Proto, to: Port, keepSource: v.boolean(), via: v.optional(v.picklist(['kernel', 'relay'])) });

const Count = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_FORWARD_OPTION));

const Forward = v.object({
  port: Port,
  proto: Proto,
  targets: v.array(Endpoint),
  listen: v.optional(
    v.pipe(
      v.string(),
      v.check((s) => isIP(s) !== 0, 'not an IP address'),
    ),
  ),
  workers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_WORKERS))),
  schedule: v.optional(v.picklist(FORWARD_SCHEDULES)),
  connectTimeoutMs: v.optional(Count),
  idleTimeoutS: v.optional(Count),
  maxConnections: v.optional(Count),
  maxSessions: v.optional(Count),
  graceS: v.optional(Count),
});

const DesiredSchema = v.object({
  ip: Ip,
  label: Label,
  names: v.pipe(v.array(HostName), v.minLength(1)),
  persist: v.picklist([...PERSIST_KINDS, 'auto']),
  hostsFile: v.boolean(),
  dockerDaemon: v.boolean(),
  restartDocker: v.boolean(),
  lanGuard: v.boolean(),
  allowIfaces: v.array(Iface),
  exposes: v.array(Expose),
  firewall: v.picklist(['auto', 'nftables', 'iptables']),
  forwards: v.array(Forward),
  dns: v.boolean(),
  dnsUsers: v.array(UserName),
  exposeAll: v.optional(v.object({ except: v.array(Port) })),
});

export const StateSchema = v.object({
  version: v.literal(1),
  desired: DesiredSchema,
  persistence: v.nullable(v.object({ kind: v.picklist(PERSIST_KINDS), reason: v.pipe(v.string(), v.maxLength(1000)), ip: Ip, label: Label })),
  updatedAt: v.string(),
});
