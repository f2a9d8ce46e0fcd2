/**
 * tunnel: a GRE, gretap, IPIP, ip6gre, ip6gretap, ip6tnl or Geneve device as the pod's
 * interface (no reference plugin exists). The device is created from the host's rtnetlink
 * socket in one request that names the host as its link netns (IFLA_LINK_NETNSID) and the
 * pod as its target: the kernel makes it in the host, binds it to the host's tunnel tables
 * and underlay, then moves it into the pod under a temporary name derived from the
 * attachment, renamed to CNI_IFNAME; IPAM and routes as for macvlan. A tuple clash (the
 * kernel's one tunnel per local, remote, key and underlay) is refused up front (claims.ts).
 * The L2 modes may instead stay in the host on a shared bridge, the pod on a veth (bridged.ts).
 */
import { checkL3, checkPodLink, configureL3, resultInterface } from '../../src/attach/l3.ts';
import { attachmentOf, clearTempLink, podTempName, removePodLink, withPod } from '../../src/attach/pod.ts';
import { masterStatus } from '../../src/attach/slave.ts';
import { transaction } from '../../src/attach/undo.ts';
import { CniError, Code, invalidConfig, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import { openIpam } from '../../src/ipam/client.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { ensurePeerId } from '../../src/kernel/nsid.ts';
import * as route from '../../src/kernel/route.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import { FALLBACK_DEVICES, type TunnelKind, type TunnelSpec, tunnelData } from '../../src/kernel/tunnels.ts';
import { addBridged, checkBridged, delBridged, gcBridged } from './bridged.ts';
import { type Holder, tupleOf, withClaims } from './claims.ts';
import { parseTunnelConf, type TunnelConf } from './config.ts';
import { effectiveMtu, requireRemote, resolveUnderlay, tunnelSpec, verifyTunnel } from './device.ts';

type Ctx = PluginContext<TunnelConf>;

/** What to change so a second pod gets a tunnel of its own, per mode. */
function clashFix(conf: TunnelConf): string {
  if (conf.kind === 'geneve') return ': give each pod its own VNI (args.cni.vni) or remote';
  if (conf.kind === 'ipip' || conf.kind === 'ip6tnl')
    return `: ${conf.kind} has no key, so only one pod per local and remote address pair`;
  return ': give each pod its own key (args.cni.key) or remote';
}

function holderOf(ctx: Ctx | PluginContext<TunnelConf>): Holder {
  return { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname, netns: ctx.netns };
}

/** The kernel's fallback tunnels take these names in every netns once the modules load. */
function refuseFallbackName(ifname: string): void {
  if (FALLBACK_DEVICES.includes(ifname)) {
    throw invalidConfig(
      'CNI_IFNAME',
      `${q(ifname)} is the name of a kernel fallback tunnel device, which appears in every netns once the tunnel modules load: choose another interface name`,
    );
  }
}

/** The module that provides each kind (what the kernel would have to load). */
const MODULE: Record<TunnelKind, string> = {
  gre: 'ip_gre',
  gretap: 'ip_gre',
  ipip: 'ipip',
  ip6gre: 'ip6_gre',
  ip6gretap: 'ip6_gre',
  ip6tnl: 'ip6_tunnel',
  geneve: 'geneve',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates the device, retrying EEXIST/EBUSY for about half a second: a pod netns deleted a
 * moment ago still holds its tunnel until the kernel's asynchronous cleanup has run. What is
 * still refused then is a tunnel manifold does not know of: said as a code 7.
 */
async function create(ctx: Ctx, spec: TunnelSpec, name: string, mtu: number, podNs: NetNS, hostId: number) {
  const conf = ctx.conf;
  for (let wait = 10; ; wait *= 2) {
    try {
      await link.create(
        hostRtnl(),
        {
          name,
          kind: spec.kind,
          data: tunnelData(spec),
          netns: podNs,
          linkNetnsId: hostId,
          mtu,
          ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
        },
        `${spec.kind} ${q(ctx.ifname)} to ${spec.remote}`,
      );
      return;
    } catch (err) {
      if (isErrno(err, 'EOPNOTSUPP')) {
        throw new CniError(
          Code.CannotServeAdd,
          `this kernel has no ${spec.kind} links: module ${MODULE[spec.kind]} is neither loaded nor loadable`,
          '',
          { cause: err },
        );
      }
      if (!isErrno(err, 'EEXIST', 'EBUSY')) throw err;
      if (wait <= 320) {
        await sleep(wait);
        continue;
      }
      throw new CniError(
        Code.InvalidConfig,
        `remote: the kernel already has a ${tupleOf(spec.kind, spec)} tunnel, made outside manifold (by hand, or by another plugin in some netns)${clashFix(conf)}`,
        '',
        { cause: err },
      );
    }
  }
}

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  refuseFallbackName(ctx.ifname);
  const remote = requireRemote(conf);
  const ipam = await openIpam(ctx);
  if (conf.bridge) return addBridged(ctx, ipam, conf.bridge);
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const underlay = await resolveUnderlay(hostRtnl(), conf, remote);
    const spec = tunnelSpec(conf, remote, underlay);
    const mtu = effectiveMtu(conf, spec, underlay.master);
    const key = attachmentOf(ctx);
    await clearTempLink(pod, key, spec.kind);
    return transaction(async (undo) => {
      const tmp = podTempName(key);
      const host = NetNS.current();
      let hostId: number;
      try {
        hostId = await ensurePeerId(pod.rtnl, host);
      } finally {
        host.close();
      }
      await withClaims(async (claims) => {
        await claims.refuseClash(hostRtnl(), spec, holderOf(ctx), clashFix(conf));
        await create(ctx, spec, tmp, mtu, pod.ns, hostId);
        const made = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
        undo.push(`delete ${spec.kind} ${q(tmp)}`, () => link.remove(pod.rtnl, made.index));
        claims.record(spec, holderOf(ctx));
        undo.push('drop the tunnel claim', () =>
          withClaims((c) => c.dropHolder(holderOf(ctx))).then(() => {}),
        );
      });
      const created = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
      await link.set(pod.rtnl, created.index, { name: ctx.ifname }, `${spec.kind} ${q(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, ipam, undo, 0);
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      return {
        cniVersion: ctx.cniVersion,
        interfaces: [
          { name: ctx.ifname, ...(conf.l2 ? { mac: final.mac } : {}), mtu: final.mtu, sandbox: pod.path },
        ],
        ips: l3.ips,
        routes: l3.routes,
        dns: conf.dns ?? l3.dns,
      };
    });
  });
}

/** IPAM first, then the device (gone with its netns: done) and the attachment's claim. */
async function del(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.del();
  if (ctx.conf.bridge) return delBridged(ctx);
  await removePodLink(ctx.netns, attachmentOf(ctx), ctx.conf.kind);
  await withClaims((c) => c.dropHolder(holderOf(ctx)));
}

/** Mode, endpoints, key or VNI, MTU and the link netns of the device; then its addresses and routes. */
async function check(ctx: CheckContext<TunnelConf>): Promise<void> {
  const conf = ctx.conf;
  const remote = requireRemote(conf);
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  if (conf.bridge) return checkBridged(ctx, conf.bridge);
  const { iface, index } = resultInterface(ctx.prevResult, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    const underlay = await resolveUnderlay(hostRtnl(), conf, remote);
    const spec = tunnelSpec(conf, remote, underlay);
    const l = await checkPodLink(pod, iface, spec.kind);
    verifyTunnel(l, spec, effectiveMtu(conf, spec, underlay.master));
    await checkL3(pod, l, ctx.prevResult, index);
  });
}

/** Can ADD be served: the underlay exists (named, or a route to a configured remote) and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  const conf = ctx.conf;
  if (conf.master) await masterStatus(conf.master);
  else if (conf.effectiveRemote && !(await route.lookup(hostRtnl(), conf.effectiveRemote))) {
    throw new CniError(Code.CannotServeAdd, `the host has no route to remote ${q(conf.effectiveRemote)}`);
  }
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

/** IPAM GC, and the claims of attachments the runtime no longer has whose device is gone. */
async function gc(ctx: GcContext<TunnelConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc(ctx.validAttachments);
  if (ctx.conf.bridge) await gcBridged(ctx);
  else await withClaims((c) => c.dropStale(ctx.conf.name, ctx.conf.kind, ctx.validAttachments));
}

export const plugin: Plugin<TunnelConf> = {
  type: 'tunnel',
  parseConfig: parseTunnelConf,
  add,
  del,
  check,
  status,
  gc,
};
