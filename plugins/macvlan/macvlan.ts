/**
 * macvlan: a MAC-VLAN sub-interface of a host interface, created straight into the pod's
 * namespace under a temporary name, renamed to CNI_IFNAME, addressed by IPAM.
 */
import { attachmentOf, removePodLink } from '../../src/attach/pod.ts';
import { addSlave, checkSlave, masterStatus } from '../../src/attach/slave.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import { openIpam } from '../../src/ipam/client.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import { u32 } from '../../src/kernel/nl/attrs.ts';
import { IFLA_MACVLAN } from '../../src/kernel/nl/constants.ts';
import { type MacvlanConf, parseMacvlanConf } from './config.ts';

type Ctx = PluginContext<MacvlanConf>;

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  const addresses = await openIpam(ctx);
  const data = kinds.macvlanData(conf.effectiveMode);
  if (conf.bcqueuelen) data.push([IFLA_MACVLAN.BC_QUEUE_LEN, u32(conf.bcqueuelen)]);
  return addSlave(ctx, {
    kind: 'macvlan',
    network: conf.name,
    master: conf.master || undefined,
    linkInContainer: conf.linkInContainer === true,
    mtu: conf.mtu,
    mac: conf.effectiveMac,
    data,
    addresses,
    dns: conf.dns,
  });
}

async function del(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.del();
  await removePodLink(ctx.netns, attachmentOf(ctx), 'macvlan');
}

async function check(ctx: CheckContext<MacvlanConf>): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  const spec = {
    kind: 'macvlan',
    master: conf.master || undefined,
    linkInContainer: conf.linkInContainer === true,
    checkMaster: true,
  } as const;
  await checkSlave(ctx, spec, (l) => {
    const mode = kinds.macvlanMode(l);
    if (mode !== conf.effectiveMode) {
      throw new CniError(
        Code.Internal,
        `macvlan ${q(l.name)} is in mode ${mode ?? '?'}, config says ${conf.effectiveMode}`,
      );
    }
  });
}

/** Can ADD be served: the master exists (unless it is in the pod) and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  if (!ctx.conf.linkInContainer) await masterStatus(ctx.conf.master || undefined);
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

async function gc(ctx: GcContext<MacvlanConf>): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc(ctx.validAttachments);
}

export const plugin: Plugin<MacvlanConf> = {
  type: 'macvlan',
  parseConfig: parseMacvlanConf,
  add,
  del,
  check,
  status,
  gc,
};
