import { inCidr } from '../../../model/address.js';
import { readLiveFile } from '../../../fs/system-fs.js';
import { configFileOf, gatewayFromConfig, pickDockerd, type GatewayConfig } from './dockerd-config.js';
import { fail, ok, warn } from '../../../model/finding.js';
import type { Check } from '../../../model/context.js';
import { DAEMON_JSON } from '../../../docker/daemon-json.js';
import { linuxFacts } from './facts.js';

/**
 * `daemon-gateway`: what `--add-host NAME:host-gateway` resolves to, and whether that is the alias.
 * Reads the running dockerd's flags and config file (falling back to daemon.json under --root when
 * the engine is remote); without a setting, Docker uses the default bridge's gateway.
 */
export const daemonGatewayCheck: Check = {
  id: 'daemon-gateway',
  async run(input) {
    const { ctx, desired, hostalias } = input;
    const facts = linuxFacts(input);
    const dockerd = pickDockerd(await facts.dockerdArgv(), ctx.env['DOCKER_HOST']);
    let config: GatewayConfig;
    if (dockerd) {
      const path = configFileOf(dockerd.argv);
      // The running daemon read its own file, not one under --root; the default path honours --root.
      const text = path === DAEMON_JSON ? await ctx.fs.read(path) : await readLiveFile(path);
      config = gatewayFromConfig(dockerd.argv, text, path);
    } else {
      config = gatewayFromConfig([], await ctx.fs.read(DAEMON_JSON), DAEMON_JSON);
    }
    let resolved = config.addresses;
    let source = config.source;
    if (resolved.length === 0) {
      const engine = await input.engine();
      const bridge = engine.reachable ? engine.bridges.find((b) => b.name === 'bridge') : undefined;
      let gw = bridge?.gateways[0];
      if (!gw && bridge) {
        // Engine 20.10 leaves the default bridge's Gateway empty: take docker0's own address.
        const addr = (await facts.addresses()).find((a) => a.ifname === bridge.iface && a.family === 'inet' && bridge.subnets.some((s) => inCidr(a.local, s)));
        gw = addr?.local ?? (await facts.addresses()).find((a) => a.ifname === bridge.iface && a.family === 'inet')?.local;
      }
      if (!gw) {
        if (desired.dockerDaemon)
          return [
            warn('daemon-gateway', `can't tell what host-gateway resolves to (${source}; no engine or default bridge answers)`, 'see the docker findings'),
          ];
        return [ok('daemon-gateway', `host-gateway: not set (${source}); no engine answers to say which bridge it uses`)];
      }
      resolved = [gw];
      source = `${source}: Docker's default, the gateway of ${bridge?.iface ?? 'docker0'}`;
    }
    const isAlias = resolved.includes(desired.ip);
    const text = `host-gateway → ${resolved.join(', ')} (${source})`;
    if (isAlias) return [ok('daemon-gateway', `${text}: the alias`)];
    if (desired.dockerDaemon) {
      return [
        fail(
          'daemon-gateway',
          `${text}, not the alias ${desired.ip}, although hostalias was set up with --docker-daemon`,
          hostalias('up --docker-daemon --restart-docker'),
        ),
      ];
    }
    return [
      ok(
        'daemon-gateway',
        `${text}; not the alias, which is fine: hostalias run and $(hostalias flags) map the names to ${desired.ip} directly (make host-gateway the alias with: ${hostalias('up --docker-daemon')})`,
      ),
    ];
  },
};
