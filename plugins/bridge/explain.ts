/**
 * bridge's dry run (`manifold explain`): the bridge (made if missing), a veth pair with its
 * host end on it (named at ADD) and the pod end renamed to CNI_IFNAME, and the pod's addresses
 * and routes as the plugin's own calcGateways makes them of its IPAM's answer (gateways,
 * isDefaultGateway's default route), with the host-side extras noted.
 */

import { q } from '../../src/cni/errors.ts';
import { decidedAtAdd, type ExplainContext, type Explainer, type Forecast } from '../../src/cni/explain.ts';
import type { Interface } from '../../src/cni/result.ts';
import { dnsSet } from './bridge.ts';
import { parseBridgeConf, validateForAdd } from './config.ts';
import { calcGateways, POD_INTERFACE_INDEX } from './gateway.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseBridgeConf(ctx.raw, ctx.cniArgs);
    validateForAdd(conf, ctx.raw);
    const ipam = await ctx.ipam();
    const r = ipam?.result;
    const gws = calcGateways(r?.ips ?? [], r?.routes ?? [], {
      isGW: conf.isGW,
      isDefaultGW: conf.isDefaultGateway === true,
    });
    const interfaces: Interface[] = [
      { name: conf.brName },
      { name: decidedAtAdd('host veth, named at ADD') },
      {
        name: ctx.ifname,
        sandbox: ctx.netns,
        ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
        ...(conf.mtu ? { mtu: conf.mtu } : {}),
      },
    ];
    const vlanGateway = ipam && conf.isGW && conf.vlan ? `${conf.brName}.${conf.vlan}` : undefined;
    if (vlanGateway) interfaces.push({ name: vlanGateway });
    const notes = [
      `bridge ${q(conf.brName)} (made if missing, never removed by DEL); a veth pair, the host end a port of it${conf.vlan ? ` on VLAN ${conf.vlan}` : ''}${conf.hairpinMode ? ', hairpin on' : ''}`,
    ];
    const onBridge = [...gws.bridgeAddrs[4], ...gws.bridgeAddrs[6]];
    if (onBridge.length > 0)
      notes.push(`isGateway: ${onBridge.join(', ')} on ${vlanGateway ?? conf.brName}, IP forwarding on`);
    if (conf.ipMasq && ipam) notes.push('ipMasq: nftables masquerade of the pod addresses');
    if (conf.macspoofchk) notes.push('macspoofchk: nftables rules drop frames from any other MAC');
    if (!ipam) notes.push('no ipam: the pod interface is only brought up');
    else notes.push(...ipam.notes);
    const dns = dnsSet(conf.dns) ? conf.dns : r?.dns;
    return {
      result: {
        cniVersion: ctx.cniVersion,
        interfaces,
        ips: gws.ips.map((ip) => ({ ...ip, interface: POD_INTERFACE_INDEX })),
        routes: gws.routes,
        ...(dns ? { dns } : {}),
      },
      notes,
      sources: [...(ipam?.sources ?? [])],
      complete: ipam?.complete ?? true,
    };
  },
};
