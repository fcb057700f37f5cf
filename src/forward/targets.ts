/**
 * Which target a new connection or UDP session tries first. Pure (state lives in the picker).
 *
 * `localhost` is 127.0.0.1 or ::1 depending on the resolver and the server (Node >= 17 dev servers
 * listen on ::1 only), so a relay standing in for a local client tries both:
 * `loopbackTargets(port)` with the 'sticky' order starts every connection at the family that
 * answered last and falls back to the other on refusal.
 */
/** A host and port a relay listens on or connects to. */
export interface Endpoint {
  host: string;
  port: number;
}

/** The addresses a local client of `localhost` may reach a local service on. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '::1'];

/** 127.0.0.1:PORT and [::1]:PORT, for a relay that must reach a service whatever loopback family it listens on. Pure. */
export function loopbackTargets(port: number): Endpoint[] {
  return LOOPBACK_HOSTS.map((host) => ({ host, port }));
}

/**
 * 'round-robin' spreads new connections over the targets (load sharing);
 * 'sticky' starts at the one that answered last (the same service on either of two addresses).
 * Both skip a target that refuses and try the next.
 */
export type TargetOrder = 'round-robin' | 'sticky';

export interface TargetPicker {
  /** Index of the target a new connection/session tries first. */
  first(): number;
  /** Records that target `i` answered. */
  answered(i: number): void;
}

export function targetPicker(count: number, order: TargetOrder = 'round-robin'): TargetPicker {
  let next = 0;
  if (order === 'sticky') {
    return { first: () => next, answered: (i) => void (next = i % count) };
  }
  return {
    first: () => {
      const i = next;
      next = (next + 1) % count;
      return i;
    },
    answered: () => undefined,
  };
}
