import type { ForwardSpec } from '../../../model/config.js';
import type { DoctorInput } from '../../../model/context.js';
import type { ServiceManager } from '../../../model/expose.js';
import { unitName } from '../../../forward/spec.js';

/**
 * What to do about a relay hostalias manages that is not listening: restart its unit where
 * systemd runs; where no service manager runs (a container, WSL without systemd) the unit never
 * starts, so remove it and run the relay in the foreground instead. `why` is added to the
 * finding's message. Pure: `manager` is Backend.serviceManager's answer.
 */
export function relayDownFix(input: Pick<DoctorInput, 'hostalias'>, relay: ForwardSpec, manager: ServiceManager): { why: string; fix: string } {
  const { hostalias } = input;
  const unit = unitName(relay);
  if (manager.runs) return { why: '', fix: `sudo systemctl restart ${unit}  # its log: journalctl -u ${unit}` };
  const port = `${relay.port}/${relay.proto}`;
  const options = [...relay.targets.flatMap((t) => ['--to', t]), ...(relay.listen ? ['--listen', relay.listen] : [])];
  const remove = relay.forExpose ? hostalias(['unexpose', port]) : hostalias(['forward', port, '--uninstall']);
  return {
    why: ` (its unit can't start: ${manager.why})`,
    fix: `${remove}  # then run the relay in the foreground: ${hostalias(['forward', port, ...options], 'user')}`,
  };
}

/**
 * The fix for a service on ::1 only that containers should reach (`spec`: PORT or PORT/udp):
 * `expose`, which relays it, where a service manager runs; else the relay in the foreground,
 * after removing a kernel expose that can't reach ::1 (`exposed`). Pure.
 */
export function v6OnlyFix(input: Pick<DoctorInput, 'hostalias'>, spec: string, manager: ServiceManager, exposed: boolean): string {
  const { hostalias } = input;
  if (manager.runs) return hostalias(['expose', spec]);
  const foreground = hostalias(['forward', spec], 'user');
  if (exposed) return `${hostalias(['unexpose', spec])}  # then run the relay in the foreground: ${foreground}`;
  return `${foreground}  # the relay in the foreground: no service manager runs here to keep one`;
}
