/**
 * The IP part of a bridge attachment: IPAM (src/attach/l3.ts `allocate`), gateways
 * computed the reference's way, the pod's sysctls, addresses and routes, and with isGateway
 * the gateway addresses on the bridge (or on the VLAN's gateway interface) and forwarding.
 */
import { allocate } from '../../src/attach/l3.ts';
import type { Pod } from '../../src/attach/pod.ts';
import type { Undo } from '../../src/attach/undo.ts';
import { q } from '../../src/cni/errors.ts';
import type { DNS, IPConfig, Route } from '../../src/cni/result.ts';
import type { Ipam } from '../../src/ipam/client.ts';
import { configureInterface } from '../../src/ipam/configure.ts';
import type * as link from '../../src/kernel/link.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import type { BridgeConf } from './config.ts';
import { calcGateways } from './gateway.ts';
import * as host from './host.ts';

export interface PodL3 {
  readonly ips: IPConfig[];
  readonly routes: Route[];
  readonly dns: DNS | undefined;
  /** The VLAN gateway interface holding the gateway (vlan with isGateway). */
  readonly vlanGateway: string | undefined;
}

export async function attachL3(
  h: Rtnl,
  pod: Pod,
  ifname: string,
  conf: BridgeConf,
  ipam: Ipam,
  br: link.Link,
  undo: Undo,
): Promise<PodL3> {
  const r = await allocate(ipam, undo);
  const gws = calcGateways(r.ips, r.routes ?? [], {
    isGW: conf.isGW,
    isDefaultGW: conf.isDefaultGateway === true,
  });

  const v6 = `net/ipv6/conf/${ifname}`;
  if (conf.enabledad) host.trySysctl(pod.ns, `${v6}/enhanced_dad`, '1');
  host.trySysctl(pod.ns, `${v6}/accept_dad`, conf.enabledad ? '1' : '0');
  host.trySysctl(pod.ns, `net/ipv4/conf/${ifname}/arp_notify`, '1');
  await configureInterface(pod.rtnl, pod.ns, ifname, gws.ips, gws.routes);

  let vlanGateway: string | undefined;
  if (conf.isGW) {
    let gwLink = br;
    if (conf.vlan) {
      const vg = await host.ensureVlanGateway(h, br, conf);
      const port = vg.createdPort;
      if (port) {
        undo.push(`remove VLAN gateway ${q(vg.link.name)}`, () =>
          host.removeVlanGatewayIfUnused(h, br, port),
        );
      }
      gwLink = vg.link;
      vlanGateway = vg.link.name;
    }
    for (const fam of [4, 6] as const) {
      for (const cidr of gws.bridgeAddrs[fam]) {
        await host.ensureGatewayAddr(h, gwLink, cidr, conf.forceAddress === true, gwLink.mac);
      }
      if (gws.bridgeAddrs[fam].length > 0) host.enableForwarding(fam);
    }
  }
  return { ips: gws.ips, routes: gws.routes, dns: r.dns, vlanGateway };
}
