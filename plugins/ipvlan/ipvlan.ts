/**
 * ipvlan: a slave sharing its master's MAC, created straight into the pod's namespace under a
 * temporary name and renamed. L2 behaves like macvlan on the wire; in L3/L3S there is no ARP,
 * so every route is a device route. Chained after a plugin that gave the pod addresses (no
 * `ipam`), it reuses prevResult's IPs, and prevResult's single interface is the default master.
 */
import type { GivenIPs } from '../../src/attach/l3.ts';
import { attachmentOf, removePodLink } from '../../src/attach/pod.ts';
import { addSlave, checkSlave, masterStatus } from '../../src/attach/slave.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import { type Ipam, openIpam } from '../../src/ipam/client.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import { type IpvlanConf, parseIpvlanConf } from './config.ts';

type Ctx = PluginContext<IpvlanConf>;

/** The master's name: configured, else prevResult's single named interface, else the default route's. */
function masterName(ctx: Ctx): string | undefined {
  if (ctx.conf.master) return ctx.conf.master;
  if (!ctx.prevResult) return undefined;
  const ifs = ctx.prevResult.interfaces ?? [];
  if (ifs.length === 1 && ifs[0]?.name) return ifs[0].name;
  throw new CniError(
    Code.InvalidConfig,
    'master: not set, and prevResult does not have a single named interface to chain onto',
  );
}

/** Where addresses come from: IPAM, else (chained) prevResult's IPs, else none (L2 only). */
function addressSource(ctx: Ctx, ipam: Ipam | undefined): Ipam | GivenIPs | undefined {
  if (ipam) return ipam;
  if (ctx.prevResult?.ips?.length) return { given: ctx.prevResult };
  return undefined;
}

const l3Only = (conf: IpvlanConf) => conf.effectiveMode !== 'l2';

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  return addSlave(ctx, {
    kind: 'ipvlan',
    network: conf.name,
    master: masterName(ctx),
    linkInContainer: conf.linkInContainer === true,
    mtu: conf.mtu,
    data: kinds.ipvlanData(conf.effectiveMode, conf.effectiveFlag),
    addresses: addressSource(ctx, ipam),
    deviceRoutes: l3Only(conf),
    dns: conf.dns,
  });
}

async function del(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.del();
  await removePodLink(ctx.netns, attachmentOf(ctx), 'ipvlan');
}

async function check(ctx: CheckContext<IpvlanConf>): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  const spec = {
    kind: 'ipvlan',
    master: conf.master || undefined,
    linkInContainer: conf.linkInContainer === true,
    deviceRoutes: l3Only(conf),
    checkMaster: !!conf.master,
  } as const;
  await checkSlave(ctx, spec, (l) => {
    const { mode, flag } = kinds.ipvlanMode(l);
    if (mode !== conf.effectiveMode || flag !== conf.effectiveFlag) {
      throw new CniError(
        Code.Internal,
        `ipvlan ${q(l.name)} is in mode ${mode ?? '?'} ${flag ?? '?'}, config says ${conf.effectiveMode} ${conf.effectiveFlag}`,
      );
    }
  });
}

async function status(ctx: Ctx): Promise<void> {
  if (!ctx.conf.linkInContainer && ctx.conf.master) await masterStatus(ctx.conf.master);
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

async function gc(ctx: GcContext<IpvlanConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc(ctx.validAttachments);
}

export const plugin: Plugin<IpvlanConf> = {
  type: 'ipvlan',
  parseConfig: parseIpvlanConf,
  add,
  del,
  check,
  status,
  gc,
};
