/**
 * macvlan: a MAC-VLAN sub-interface of a host interface, created straight into the pod's
 * namespace under a temporary name, renamed to CNI_IFNAME, addressed by IPAM.
 */
import { checkL3, checkPodLink, configureL3, resultInterface } from '../../src/attach/l3.ts';
import { resolveMaster } from '../../src/attach/master.ts';
import { type Pod, tempName, withPod, withPodIfPresent } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { openIpam } from '../../src/ipam/delegate.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import { u32 } from '../../src/kernel/nl/attrs.ts';
import { IFLA_MACVLAN } from '../../src/kernel/nl/constants.ts';
import { hostRtnl, type Rtnl } from '../../src/kernel/socket.ts';
import { log } from '../../src/log.ts';
import { CniError, Code } from '../../src/skel/errors.ts';
import type { Plugin, PluginContext } from '../../src/skel/plugin.ts';
import type { Result } from '../../src/skel/result.ts';
import { type MacvlanConf, parseMacvlanConf } from './config.ts';

type Ctx = PluginContext<MacvlanConf>;

/** Where the master lives: the host, or the pod itself with linkInContainer. */
function masterSide(conf: MacvlanConf, pod: Pod): { rtnl: Rtnl; where: string } {
  return conf.linkInContainer
    ? { rtnl: pod.rtnl, where: `in netns ${JSON.stringify(pod.path)}` }
    : { rtnl: hostRtnl(), where: 'in the host netns' };
}

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const side = masterSide(conf, pod);
    const master = await resolveMaster(side.rtnl, conf.master, side.where);
    if (conf.mtu && conf.mtu > master.mtu) {
      throw new CniError(
        Code.InvalidConfig,
        `mtu: ${conf.mtu} is larger than the MTU ${master.mtu} of master ${JSON.stringify(master.name)}`,
      );
    }
    return transaction(async (undo) => {
      const tmp = tempName();
      const data = kinds.macvlanData(conf.effectiveMode);
      if (conf.bcqueuelen) data.push([IFLA_MACVLAN.BC_QUEUE_LEN, u32(conf.bcqueuelen)]);
      await createMacvlan(side.rtnl, pod, conf, master, tmp, data);
      const created = await link.mustByName(pod.rtnl, tmp, `in netns ${JSON.stringify(pod.path)}`);
      undo.push(`delete macvlan ${JSON.stringify(tmp)}`, () => link.remove(pod.rtnl, created.index));
      await link.set(pod.rtnl, created.index, { name: ctx.ifname }, `macvlan ${JSON.stringify(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, ipam, undo, 0);
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${JSON.stringify(pod.path)}`);
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

async function createMacvlan(
  h: Rtnl,
  pod: Pod,
  conf: MacvlanConf,
  master: link.Link,
  name: string,
  data: ReturnType<typeof kinds.macvlanData>,
): Promise<void> {
  try {
    await link.create(
      h,
      {
        name,
        kind: 'macvlan',
        parent: master.index,
        data,
        ...(conf.linkInContainer ? {} : { netns: pod.ns }),
        ...(conf.mtu ? { mtu: conf.mtu } : {}),
        ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
      },
      `macvlan on master ${JSON.stringify(master.name)}`,
    );
  } catch (err) {
    if (isErrno(err, 'EBUSY') && err instanceof CniError) {
      throw new CniError(
        err.code,
        err.message,
        `master ${JSON.stringify(master.name)} already carries ipvlan links; a master takes macvlan or ipvlan, not both`,
        { cause: err },
      );
    }
    throw err;
  }
}

async function del(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.del();
  await withPodIfPresent(ctx.netns, async (pod) => {
    const l = await link.byName(pod.rtnl, ctx.ifname);
    if (!l) return;
    if (l.kind !== 'macvlan') {
      log.info(
        `DEL: ${JSON.stringify(ctx.ifname)} in ${pod.path} is a ${l.kind ?? 'device'}, not a macvlan: left alone`,
      );
      return;
    }
    await link.remove(pod.rtnl, l.index, `macvlan ${JSON.stringify(ctx.ifname)}`);
  });
}

async function check(ctx: Ctx): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  await ipam?.check();
  const prev = ctx.prevResult as Result;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    const side = masterSide(conf, pod);
    await resolveMaster(side.rtnl, conf.master, side.where);
    const l = await checkPodLink(pod, iface, 'macvlan');
    const mode = kinds.macvlanMode(l);
    if (mode !== conf.effectiveMode) {
      throw new CniError(
        Code.Internal,
        `macvlan ${JSON.stringify(l.name)} is in mode ${mode ?? '?'}, config says ${conf.effectiveMode}`,
      );
    }
    await checkL3(pod, l, prev, index);
  });
}

/** Can ADD be served: the master exists (unless it is in the pod) and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  if (!ctx.conf.linkInContainer) {
    try {
      await resolveMaster(hostRtnl(), ctx.conf.master, 'in the host netns');
    } catch (err) {
      throw new CniError(Code.CannotServeAdd, (err as Error).message);
    }
  }
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

async function gc(ctx: Ctx): Promise<void> {
  const ipam = await openIpam(ctx);
  await ipam?.gc();
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
