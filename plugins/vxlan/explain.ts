/**
 * vxlan's dry run (`manifold explain`): in direct mode the vxlan device itself, made in the
 * pod; in bridge mode the VNI's shared host bridge and vxlan device (made if missing) and a
 * veth whose host end's name is derived from the attachment — with IPAM's addresses on the
 * pod interface, from the plugin's own config parser and names.
 */

import { q } from '../../src/cni/errors.ts';
import {
  type ExplainContext,
  type Explainer,
  type Forecast,
  linkForecast,
  podL3,
} from '../../src/cni/explain.ts';
import type { Interface } from '../../src/cni/result.ts';
import { parseVxlanConf } from './config.ts';
import { hostVethName, vxlanDeviceName } from './names.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseVxlanConf(ctx.raw, ctx.cniArgs);
    const ipam = await ctx.ipam();
    const bridged = conf.effectiveMode === 'bridge';
    const l3 = podL3(ipam, bridged ? 2 : 0, conf.dns);
    const pod: Interface = {
      name: ctx.ifname,
      sandbox: ctx.netns,
      ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
      ...(conf.mtu ? { mtu: conf.mtu } : {}),
    };
    const interfaces: Interface[] = bridged
      ? [{ name: conf.bridgeName }, { name: hostVethName(conf.name, ctx.containerId, ctx.ifname) }, pod]
      : [pod];
    const underlay = conf.master ? `master ${q(conf.master)}` : 'the default-route interface';
    const peers = conf.group ? `multicast group ${conf.group}` : `${(conf.remotes ?? []).length} remote(s)`;
    const notes = [
      `VNI ${conf.vni}, UDP port ${conf.effectivePort}, over ${underlay}, ${peers}`,
      bridged
        ? `bridge mode: ${vxlanDeviceName(conf.vni)} on bridge ${q(conf.bridgeName)} shared by the VNI's pods (made if missing, removed with the last pod)`
        : 'direct mode: the vxlan device is the pod interface (one pod per VNI and port on a host)',
      ...(ipam ? l3.notes : ['no ipam: the interface is only brought up']),
    ];
    return linkForecast(ctx, interfaces, l3, ipam, notes);
  },
};
