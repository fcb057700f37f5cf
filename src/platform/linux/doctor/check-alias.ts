import { fail, ok, warn } from '../../../model/finding.js';
import type { Check } from '../../../model/context.js';
import { linuxFacts } from './facts.js';

/** `alias`: the alias is on lo as a /32 and is the address the state records. */
export const aliasCheck: Check = {
  id: 'alias',
  async run(input) {
    const { desired, state, hostalias } = input;
    const facts = linuxFacts(input);
    const ip = desired.ip;
    const addrs = (await facts.addresses()).filter((a) => a.family === 'inet' && a.local === ip);
    const onLo = addrs.find((a) => a.ifname === 'lo');
    const up = hostalias('up');
    if (!onLo) {
      const elsewhere = addrs.map((a) => a.ifname).join(', ');
      const where = elsewhere ? ` (it is on ${elsewhere} instead; see route-conflict)` : '';
      const why = state ? 'hostalias set it up, but it is gone (removed by hand, or a reboot without persistence?)' : 'hostalias is not set up on this machine';
      return [fail('alias', `${ip} is not on lo${where}: ${why}`, up)];
    }
    if (onLo.prefixlen !== 32) {
      return [
        fail(
          'alias',
          `${ip} is on lo as /${onLo.prefixlen}: the kernel treats the whole /${onLo.prefixlen} as local`,
          `sudo ip addr del ${ip}/${onLo.prefixlen} dev lo && ${up}`,
        ),
      ];
    }
    const label = onLo.label ? ` (label ${onLo.label})` : '';
    if (!state) return [warn('alias', `${ip}/32 is on lo${label} but hostalias has no record of it (no state file)`, up)];
    return [ok('alias', `${ip}/32 is on lo${label}, as recorded`)];
  },
};
