/**
 * Bridge mode of the L2 kinds (gretap, ip6gretap, geneve), when a config names `bridge`: the
 * tunnel stays in the host, a port of that bridge, shared by every pod of the network whose
 * tuple (remote, key or VNI) is the same; each pod gets a veth whose host end is on the
 * bridge. The shared tunnel's name derives from its tuple and it carries an alias mark, so
 * the last pod's DEL (or GC) finds and removes it without a state file.
 */
import { ensureBridge } from '../../src/attach/bridge.ts';
import { checkL3, checkPodLink, configureL3, resultInterface } from '../../src/attach/l3.ts';
import { attachmentOf, clearTempLink, podTempName, removePodLink, withPod } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import type { Ipam } from '../../src/ipam/client.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl, type Rtnl } from '../../src/kernel/socket.ts';
import { type TunnelSpec, tunnelData } from '../../src/kernel/tunnels.ts';
import { hash8 } from '../../src/util/hash.ts';
import { tupleOf, withClaims } from './claims.ts';
import type { TunnelConf } from './config.ts';
import { effectiveMtu, requireRemote, resolveUnderlay, tunnelMismatch, tunnelSpec } from './device.ts';

type Ctx = PluginContext<TunnelConf>;
const HOST = 'in the host netns';

/** The shared host tunnel of a tuple. */
export function sharedTunnelName(tuple: string): string {
  return `mft${hash8(tuple)}`;
}
function sharedMark(tuple: string): string {
  return `manifold-tunnel ${tuple}`;
}
/** A pod's host veth end, from its attachment (DEL finds it with the pod netns gone). */
export function hostVethName(ctx: { conf: { name: string }; containerId: string; ifname: string }): string {
  return `mfw${hash8(`${ctx.conf.name}\0${ctx.containerId}\0${ctx.ifname}`)}`;
}
/** The alias of a pod's host veth: which shared tunnel it uses, for which attachment. */
function portMark(
  tunnel: string,
  ctx: { conf: { name: string }; containerId: string; ifname: string },
): string {
  return `manifold-tunnel-port ${tunnel} net=${ctx.conf.name} ctr=${ctx.containerId} if=${ctx.ifname}`;
}
const PORT = /^manifold-tunnel-port (\S+) net=(\S+) ctr=(\S+) if=(\S+)$/;
function parsePort(alias: string | undefined) {
  const m = alias ? PORT.exec(alias) : null;
  return m
    ? { tunnel: m[1] ?? '', network: m[2] ?? '', containerId: m[3] ?? '', ifname: m[4] ?? '' }
    : undefined;
}

/** The network's shared tunnel for `spec`, made (and put on the bridge) when missing. */
async function ensureTunnel(h: Rtnl, spec: TunnelSpec, mtu: number, bridge: link.Link): Promise<link.Link> {
  const tuple = tupleOf(spec.kind, spec);
  const name = sharedTunnelName(tuple);
  let t = await link.byName(h, name);
  if (t && t.alias !== sharedMark(tuple)) {
    throw new CniError(
      Code.Internal,
      `${q(name)} exists in the host netns but is not manifold's ${tuple} tunnel`,
    );
  }
  if (!t) {
    await link.create(
      h,
      { name, kind: spec.kind, data: tunnelData(spec), mtu },
      `${spec.kind} ${q(name)} to ${spec.remote}`,
    );
    t = await link.mustByName(h, name, HOST);
    await link.set(h, t.index, { alias: sharedMark(tuple) }, `${spec.kind} ${q(name)}`);
  }
  if (t.master !== bridge.index)
    await link.set(h, t.index, { master: bridge.index }, `${spec.kind} ${q(name)}`);
  if (!t.up) await link.set(h, t.index, { up: true }, `${spec.kind} ${q(name)}`);
  return link.mustByName(h, name, HOST);
}

/**
 * Removes every shared tunnel of this host that no host veth uses any more (call with the
 * claims lock held, as ADD's attach is): a DEL whose veth went with its pod netns cannot
 * tell which tunnel it used, so the sweep does not need to know.
 */
async function releaseUnused(h: Rtnl): Promise<void> {
  const links = await link.list(h);
  const used = new Set(links.map((l) => (l.kind === 'veth' ? parsePort(l.alias)?.tunnel : undefined)));
  for (const l of links) {
    if (l.alias?.startsWith('manifold-tunnel ') && l.name.startsWith('mft') && !used.has(l.name)) {
      await link.remove(h, l.index, `tunnel ${q(l.name)}`);
    }
  }
}

export async function addBridged(ctx: Ctx, ipam: Ipam | undefined, bridgeName: string): Promise<Result> {
  const conf = ctx.conf;
  const h = hostRtnl();
  const remote = requireRemote(conf);
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const underlay = await resolveUnderlay(h, conf, remote);
    const spec = tunnelSpec(conf, remote, underlay);
    const mtu = effectiveMtu(conf, spec, underlay.master);
    const tunnelName = sharedTunnelName(tupleOf(spec.kind, spec));
    const hostName = hostVethName(ctx);
    await clearTempLink(pod, attachmentOf(ctx), 'veth');
    return transaction(async (undo) => {
      undo.push(`remove the unused tunnel ${q(tunnelName)}`, () => withClaims(() => releaseUnused(h)));
      const tmp = podTempName(attachmentOf(ctx));
      const br = await withClaims(async (claims) => {
        // a direct-mode pod or a host tunnel of another kind of owner holds the tuple: refused
        await claims.refuseClash(
          h,
          spec,
          { network: conf.name, containerId: '', ifname: tunnelName, netns: '' },
          '',
          tunnelName,
        );
        const { link: bridge } = await ensureBridge(h, { name: bridgeName, mtu });
        await ensureTunnel(h, spec, mtu, bridge);
        await link.create(
          h,
          {
            name: hostName,
            kind: 'veth',
            mtu,
            master: bridge.index,
            up: true,
            rawData: link.vethData({
              name: tmp,
              netns: pod.ns,
              mtu,
              ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
            }),
          },
          `veth ${q(hostName)} on bridge ${q(bridgeName)}`,
        );
        const he = await link.mustByName(h, hostName, HOST);
        undo.push(`delete veth ${q(hostName)}`, () => link.remove(h, he.index));
        await link.set(h, he.index, { alias: portMark(tunnelName, ctx) }, `veth ${q(hostName)}`);
        return bridge;
      });
      const podEnd = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
      await link.set(pod.rtnl, podEnd.index, { name: ctx.ifname }, `veth ${q(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, ipam, undo, 2);
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      const hostEnd = await link.mustByName(h, hostName, HOST);
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

/** The pod's veth (both ends), then the shared tunnels no pod uses any more. */
export async function delBridged(ctx: Ctx): Promise<void> {
  const h = hostRtnl();
  await removePodLink(ctx.netns, attachmentOf(ctx), 'veth');
  const hostName = hostVethName(ctx);
  const he = await link.byName(h, hostName);
  if (he?.kind === 'veth' && parsePort(he.alias)) await link.remove(h, he.index, `veth ${q(hostName)}`);
  await withClaims(() => releaseUnused(h));
}

export async function checkBridged(ctx: CheckContext<TunnelConf>, bridgeName: string): Promise<void> {
  const conf = ctx.conf;
  const h = hostRtnl();
  const remote = requireRemote(conf);
  const underlay = await resolveUnderlay(h, conf, remote);
  const spec = tunnelSpec(conf, remote, underlay);
  const mtu = effectiveMtu(conf, spec, underlay.master);
  const br = await link.mustByName(h, bridgeName, HOST);
  const t = await link.mustByName(h, sharedTunnelName(tupleOf(spec.kind, spec)), HOST);
  const problem =
    tunnelMismatch(t, spec, mtu) ??
    (t.master !== br.index ? `is not a port of bridge ${q(br.name)}` : undefined);
  if (problem) throw new CniError(Code.Internal, `${spec.kind} ${q(t.name)} ${problem}`);
  const he = await link.mustByName(h, hostVethName(ctx), HOST);
  if (he.master !== br.index)
    throw new CniError(Code.Internal, `veth ${q(he.name)} is not a port of bridge ${q(br.name)}`);
  const { iface, index } = resultInterface(ctx.prevResult, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    const l = await checkPodLink(pod, iface, 'veth');
    if (l.mtu !== mtu)
      throw new CniError(Code.Internal, `interface ${q(l.name)} has MTU ${l.mtu}, expected ${mtu}`);
    await checkL3(pod, l, ctx.prevResult, index);
  });
}

/** Host veths of this network's attachments the runtime no longer has, then unused shared tunnels. */
export async function gcBridged(ctx: GcContext<TunnelConf>): Promise<void> {
  const h = hostRtnl();
  const keep = new Set(ctx.validAttachments.map((a) => `${a.containerID}\0${a.ifname}`));
  await withClaims(async () => {
    for (const l of await link.list(h)) {
      const port = l.kind === 'veth' ? parsePort(l.alias) : undefined;
      if (port && port.network === ctx.conf.name && !keep.has(`${port.containerId}\0${port.ifname}`)) {
        await link.remove(h, l.index, `veth ${q(l.name)}`);
      }
    }
    await releaseUnused(h);
  });
}
