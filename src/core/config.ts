import { DEFAULT_IP, DEFAULT_NAMES } from './address.js';

export const PERSIST_KINDS = ['systemd', 'networkd', 'netplan', 'ifupdown', 'networkmanager', 'none'] as const;
export type PersistKind = (typeof PERSIST_KINDS)[number];
export type PersistChoice = PersistKind | 'auto';

export interface ExposeSpec {
  port: number;
  proto: 'tcp' | 'udp';
  /** Port on 127.0.0.1 that receives the traffic. */
  to: number;
  keepSource: boolean;
}

/**
 * Everything the user asked for: what `up` converges the system to. It is stored in the state,
 * so flags given once stay in force until changed (`up` again with no flags changes nothing).
 */
export interface Desired {
  ip: string;
  label: string;
  names: string[];
  persist: PersistChoice;
  hostsFile: boolean;
  dockerDaemon: boolean;
  /** Drop traffic for the alias unless it arrives on lo or a container bridge (issue 4). */
  lanGuard: boolean;
  allowIfaces: string[];
  exposes: ExposeSpec[];
}

export function defaultDesired(): Desired {
  return {
    ip: DEFAULT_IP,
    label: 'lo:hostalias',
    names: [...DEFAULT_NAMES],
    persist: 'auto',
    hostsFile: false,
    dockerDaemon: false,
    lanGuard: false,
    allowIfaces: [],
    exposes: [],
  };
}
