import { HostaliasError, usageError } from '../model/errors.js';
import { parsePortProto, type Proto } from '../model/ports.js';

/** 8080 (TCP and UDP), '8080/tcp' or '5353/udp'. */
export type HostPortSpec = number | string;

export interface WantedPort {
  port: number;
  proto: Proto;
  /** Given as a bare number: the UDP half is best effort (see relayPort). */
  implicit: boolean;
}

const EXAMPLE = "exposeHostPorts(8080, '5353/udp')";

/** The relays a list of port specs asks for, in order, without duplicates. Pure. */
export function wantedPorts(specs: readonly HostPortSpec[]): WantedPort[] {
  const out: WantedPort[] = [];
  const add = (w: WantedPort): void => {
    const same = out.find((o) => o.port === w.port && o.proto === w.proto);
    if (same) same.implicit &&= w.implicit;
    else out.push(w);
  };
  for (const spec of specs) {
    if (typeof spec === 'number') {
      if (!Number.isInteger(spec) || spec < 1 || spec > 65535) throw usageError(`host port ${spec} is not a port number (1–65535)`, EXAMPLE);
      add({ port: spec, proto: 'tcp', implicit: false });
      add({ port: spec, proto: 'udp', implicit: true });
    } else if (typeof spec === 'string') {
      add({ ...parsePortProto(spec, EXAMPLE), implicit: false });
    } else {
      throw new HostaliasError('usage', `host port ${String(spec)} is neither a number nor "PORT/tcp" / "PORT/udp"`, EXAMPLE);
    }
  }
  return out;
}
