/**
 * vxlan: a VXLAN overlay attachment (no reference plugin exists; fields follow the kernel's
 * vxlan driver and flannel's backend). Two modes: `direct`, the vxlan device itself is the
 * pod's interface (direct.ts); `bridge`, one vxlan device per VNI on a host bridge shared by
 * the VNI's pods, each on a veth (bridged.ts, shared.ts). FDB entries come from the config.
 */
import { masterStatus } from '../../src/attach/slave.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import { openIpam } from '../../src/ipam/client.ts';
import { addBridged, checkBridged, delBridged, gcBridged } from './bridged.ts';
import { parseVxlanConf, type VxlanConf } from './config.ts';
import { addDirect, checkDirect, delDirect } from './direct.ts';

type Ctx = PluginContext<VxlanConf>;

async function add(ctx: Ctx): Promise<Result> {
  const ipam = await openIpam(ctx);
  return ctx.conf.effectiveMode === 'bridge' ? addBridged(ctx, ipam) : addDirect(ctx, ipam);
}

/** IPAM first (as the reference plugins), then the devices; a gone netns or link is done. */
async function del(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.del();
  if (ctx.conf.effectiveMode === 'bridge') await delBridged(ctx);
  else await delDirect(ctx);
}

/** VNI, port, learning, underlay, MTU and FDB entries of the vxlan device; then links and L3. */
async function check(ctx: CheckContext<VxlanConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  if (ctx.conf.effectiveMode === 'bridge') await checkBridged(ctx);
  else await checkDirect(ctx);
}

/** Can ADD be served: the underlay exists in the host and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  await masterStatus(ctx.conf.master);
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

/** IPAM GC; in bridge mode also stale host veths of this network and unused shared devices. */
async function gc(ctx: GcContext<VxlanConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc(ctx.validAttachments);
  if (ctx.conf.effectiveMode === 'bridge') await gcBridged(ctx);
}

export const plugin: Plugin<VxlanConf> = {
  type: 'vxlan',
  parseConfig: parseVxlanConf,
  add,
  del,
  check,
  status,
  gc,
};
