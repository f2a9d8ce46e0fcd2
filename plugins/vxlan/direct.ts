/**
 * Direct mode: the vxlan device is the pod's interface. It is created from the host's
 * rtnetlink socket with the pod's namespace given at creation (IFLA_NET_NS_FD), so the
 * kernel binds it to the host: IFLA_VXLAN_LINK names the host's underlay, the UDP socket
 * opens in the host when the device comes up, and `ip -d link` in the pod shows
 * `link-netns`/`link_netnsid`. The kernel admits one such device per VNI and UDP port per
 * host netns (received packets are demultiplexed by port and VNI alone), so direct mode is
 * one pod per VNI per host; bridge mode shares a VNI.
 */
import { checkL3, checkPodLink, configureL3, resultInterface } from '../../src/attach/l3.ts';
import { resolveMaster } from '../../src/attach/master.ts';
import {
  attachmentOf,
  clearTempLink,
  type Pod,
  podTempName,
  removePodLink,
  withPod,
} from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import type { Ipam } from '../../src/ipam/client.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import type { VxlanConf } from './config.ts';
import { effectiveMtu, retryVniClash, verifyVxlan, vniInUse, vxlanSpec } from './device.ts';
import { hostWantedFdb, installFdb, verifyFdb } from './fdb.ts';

type Ctx = PluginContext<VxlanConf>;

const HOST = 'in the host netns';

async function createInPod(
  conf: VxlanConf,
  pod: Pod,
  master: link.Link,
  tmp: string,
  ifname: string,
  mtu: number,
) {
  try {
    await retryVniClash(() =>
      link.create(
        hostRtnl(),
        {
          name: tmp,
          kind: 'vxlan',
          data: kinds.vxlanData(vxlanSpec(conf, master)),
          netns: pod.ns,
          mtu,
          ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
        },
        `vxlan ${q(ifname)} (VNI ${conf.vni}) on master ${q(master.name)}`,
      ),
    );
  } catch (err) {
    if (isErrno(err, 'EEXIST') && err instanceof CniError) {
      throw vniInUse(
        conf,
        err,
        '; direct mode gives one pod per VNI on a host: use "mode": "bridge" to share it',
      );
    }
    throw err;
  }
}

export async function addDirect(ctx: Ctx, ipam: Ipam | undefined): Promise<Result> {
  const conf = ctx.conf;
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const master = await resolveMaster(hostRtnl(), conf.master, HOST);
    const mtu = effectiveMtu(conf, master);
    await clearTempLink(pod, attachmentOf(ctx), 'vxlan');
    return transaction(async (undo) => {
      const tmp = podTempName(attachmentOf(ctx));
      await createInPod(conf, pod, master, tmp, ctx.ifname, mtu);
      const created = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
      undo.push(`delete vxlan ${q(tmp)}`, () => link.remove(pod.rtnl, created.index));
      await link.set(pod.rtnl, created.index, { name: ctx.ifname }, `vxlan ${q(tmp)}`);
      await installFdb(pod.rtnl, created.index, ctx.ifname, await hostWantedFdb(conf));
      const l3 = await configureL3(pod, ctx.ifname, ipam, undo, 0);
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      return {
        cniVersion: ctx.cniVersion,
        interfaces: [{ name: ctx.ifname, mac: final.mac, mtu: final.mtu, sandbox: pod.path }],
        ips: l3.ips,
        routes: l3.routes,
        dns: conf.dns ?? l3.dns,
      };
    });
  });
}

/** Removes the pod's vxlan device (its host-side UDP socket closes with it). */
export async function delDirect(ctx: Ctx): Promise<void> {
  await removePodLink(ctx.netns, attachmentOf(ctx), 'vxlan');
}

export async function checkDirect(ctx: CheckContext<VxlanConf>): Promise<void> {
  const conf = ctx.conf;
  const prev = ctx.prevResult;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    const master = await resolveMaster(hostRtnl(), conf.master, HOST);
    const l = await checkPodLink(pod, iface, 'vxlan');
    if (l.linkNetnsId === undefined) {
      throw new CniError(
        Code.Internal,
        `vxlan ${q(l.name)} has its underlay in the pod's own netns, not the host's`,
      );
    }
    verifyVxlan(l, vxlanSpec(conf, master), effectiveMtu(conf, master), master.name);
    await verifyFdb(pod.rtnl, l.index, l.name, await hostWantedFdb(conf));
    await checkL3(pod, l, prev, index);
  });
}
