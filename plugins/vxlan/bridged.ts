/**
 * Bridge mode: the VNI's vxlan device stays in the host, on a bridge shared by the pods of
 * that VNI; each pod gets a veth pair (host end on the bridge, pod end renamed to
 * CNI_IFNAME). Many pods per VNI per host, and the pod cannot touch the tunnel's FDB.
 */
import { checkL3, checkPodLink, configureL3, resultInterface } from '../../src/attach/l3.ts';
import { resolveMaster } from '../../src/attach/master.ts';
import { attachmentOf, clearTempLink, podTempName, removePodLink, withPod } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import type { Ipam } from '../../src/ipam/client.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import { log } from '../../src/util/log.ts';
import type { VxlanConf } from './config.ts';
import { effectiveMtu, verifyVxlan, vxlanSpec } from './device.ts';
import { hostWantedFdb, verifyFdb } from './fdb.ts';
import { attachmentMark, hostVethName, parseAttachmentMark, vxlanDeviceName } from './names.ts';
import { ensureShared, releaseIfUnused, withVxlanLock } from './shared.ts';

type Ctx = PluginContext<VxlanConf>;

const HOST = 'in the host netns';
const IFALIASZ = 255;
function mark(ctx: Ctx): string {
  return attachmentMark({ network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname });
}

export async function addBridged(ctx: Ctx, ipam: Ipam | undefined): Promise<Result> {
  const conf = ctx.conf;
  const host = hostRtnl();
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const master = await resolveMaster(host, conf.master, HOST);
    const mtu = effectiveMtu(conf, master);
    const hostName = hostVethName(conf.name, ctx.containerId, ctx.ifname);
    await clearTempLink(pod, attachmentOf(ctx), 'veth');
    return transaction(async (undo) => {
      // registered first, so it runs last: after this pod's veth is gone, drop what no one uses
      undo.push(`remove the unused bridge ${q(conf.bridgeName)}`, async () => {
        await withVxlanLock(() => releaseIfUnused(host, conf));
      });
      const tmp = podTempName(attachmentOf(ctx));
      const { shared, hostEnd } = await withVxlanLock(async () => {
        const s = await ensureShared(host, conf, master, mtu);
        // the veth joins the bridge inside the lock, so a concurrent last-pod DEL sees a user
        await link.create(
          host,
          {
            name: hostName,
            kind: 'veth',
            mtu,
            master: s.bridge.index,
            up: true,
            rawData: link.vethData({
              name: tmp,
              netns: pod.ns,
              mtu,
              ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
            }),
          },
          `veth ${q(hostName)} on bridge ${q(s.bridge.name)}`,
        );
        const h = await link.mustByName(host, hostName, HOST);
        undo.push(`delete veth ${q(hostName)}`, () => link.remove(host, h.index));
        const m = mark(ctx);
        if (Buffer.byteLength(m) <= IFALIASZ)
          await link.set(host, h.index, { alias: m }, `veth ${q(hostName)}`);
        return { shared: s, hostEnd: h };
      });
      const podEnd = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
      await link.set(pod.rtnl, podEnd.index, { name: ctx.ifname }, `veth ${q(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, ipam, undo, 2);
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      const br = await link.mustByName(host, shared.bridge.name, HOST);
      return {
        cniVersion: ctx.cniVersion,
        interfaces: [
          { name: br.name, mac: br.mac },
          { name: hostName, mac: hostEnd.mac },
          { name: ctx.ifname, mac: final.mac, mtu: final.mtu, sandbox: pod.path },
        ],
        ips: l3.ips,
        routes: l3.routes,
        dns: conf.dns ?? l3.dns,
      };
    });
  });
}

function belongsTo(l: link.Link, ctx: Ctx): boolean {
  if (l.kind !== 'veth') return false;
  const m = parseAttachmentMark(l.alias);
  return m
    ? m.network === ctx.conf.name && m.containerId === ctx.containerId && m.ifname === ctx.ifname
    : !l.alias;
}

/**
 * Removes the pod's veth (from inside the pod, and by its derived host name in case the pod
 * is gone but its namespace lingers), then the shared devices if this was their last pod.
 */
export async function delBridged(ctx: Ctx): Promise<void> {
  const host = hostRtnl();
  await removePodLink(ctx.netns, attachmentOf(ctx), 'veth');
  const hostName = hostVethName(ctx.conf.name, ctx.containerId, ctx.ifname);
  const hostEnd = await link.byName(host, hostName);
  if (hostEnd && belongsTo(hostEnd, ctx)) await link.remove(host, hostEnd.index, `veth ${q(hostName)}`);
  await withVxlanLock(() => releaseIfUnused(host, ctx.conf));
}

export async function checkBridged(ctx: CheckContext<VxlanConf>): Promise<void> {
  const conf = ctx.conf;
  const host = hostRtnl();
  const prev = ctx.prevResult;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  const master = await resolveMaster(host, conf.master, HOST);
  const mtu = effectiveMtu(conf, master);
  const br = await link.mustByName(host, conf.bridgeName, HOST);
  if (br.kind !== 'bridge') throw new CniError(Code.Internal, `${q(br.name)} is not a bridge`);
  const vx = await link.mustByName(host, vxlanDeviceName(conf.vni), HOST);
  verifyVxlan(vx, vxlanSpec(conf, master), mtu, master.name);
  if (vx.master !== br.index) {
    throw new CniError(Code.Internal, `vxlan ${q(vx.name)} is not a port of bridge ${q(br.name)}`);
  }
  await verifyFdb(host, vx.index, vx.name, await hostWantedFdb(conf));
  const hostName = hostVethName(conf.name, ctx.containerId, ctx.ifname);
  const hostEnd = await link.mustByName(host, hostName, HOST);
  if (hostEnd.master !== br.index) {
    throw new CniError(Code.Internal, `veth ${q(hostName)} is not a port of bridge ${q(br.name)}`);
  }
  await withPod(ctx.netns, async (pod) => {
    const l = await checkPodLink(pod, iface, 'veth');
    if (l.mtu !== mtu)
      throw new CniError(Code.Internal, `interface ${q(l.name)} has MTU ${l.mtu}, expected ${mtu}`);
    await checkL3(pod, l, prev, index);
  });
}

/** Removes this network's host veths whose attachment the runtime no longer has, then unused devices. */
export async function gcBridged(ctx: GcContext<VxlanConf>): Promise<void> {
  const host = hostRtnl();
  const keep = new Set(ctx.validAttachments.map((a) => `${a.containerID}\0${a.ifname}`));
  await withVxlanLock(async () => {
    for (const l of await link.list(host)) {
      const m = l.kind === 'veth' ? parseAttachmentMark(l.alias) : undefined;
      if (!m || m.network !== ctx.conf.name || keep.has(`${m.containerId}\0${m.ifname}`)) continue;
      log.info(`GC: removing veth ${l.name} of stale attachment ${m.containerId}/${m.ifname}`);
      await link.remove(host, l.index, `veth ${q(l.name)}`);
    }
    await releaseIfUnused(host, ctx.conf);
  });
}
