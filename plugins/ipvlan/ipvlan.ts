/**
 * ipvlan: a slave sharing its master's MAC, created straight into the pod's namespace under a
 * temporary name and renamed. L2 behaves like macvlan on the wire; in L3/L3S there is no ARP,
 * so every route is a device route. Chained after a plugin that gave the pod addresses (no
 * `ipam`), it reuses prevResult's IPs, and prevResult's single interface is the default master.
 */
import { checkL3, checkPodLink, configureL3, type GivenIPs, resultInterface } from '../../src/attach/l3.ts';
import { resolveMaster } from '../../src/attach/master.ts';
import { type Pod, tempName, withPod, withPodIfPresent } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { type Ipam, openIpam } from '../../src/ipam/delegate.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl, type Rtnl } from '../../src/kernel/socket.ts';
import { log } from '../../src/log.ts';
import { CniError, Code } from '../../src/skel/errors.ts';
import type { Plugin, PluginContext } from '../../src/skel/plugin.ts';
import type { Result } from '../../src/skel/result.ts';
import { type IpvlanConf, parseIpvlanConf } from './config.ts';

type Ctx = PluginContext<IpvlanConf>;

function masterSide(conf: IpvlanConf, pod: Pod): { rtnl: Rtnl; where: string } {
  return conf.linkInContainer
    ? { rtnl: pod.rtnl, where: `in netns ${JSON.stringify(pod.path)}` }
    : { rtnl: hostRtnl(), where: 'in the host netns' };
}

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
  const name = masterName(ctx);
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const side = masterSide(conf, pod);
    const master = await resolveMaster(side.rtnl, name, side.where);
    if (conf.mtu && conf.mtu > master.mtu) {
      throw new CniError(
        Code.InvalidConfig,
        `mtu: ${conf.mtu} is larger than the MTU ${master.mtu} of master ${JSON.stringify(master.name)}`,
      );
    }
    return transaction(async (undo) => {
      const tmp = tempName();
      await createIpvlan(side.rtnl, pod, conf, master, tmp);
      const created = await link.mustByName(pod.rtnl, tmp, `in netns ${JSON.stringify(pod.path)}`);
      undo.push(`delete ipvlan ${JSON.stringify(tmp)}`, () => link.remove(pod.rtnl, created.index));
      await link.set(pod.rtnl, created.index, { name: ctx.ifname }, `ipvlan ${JSON.stringify(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, addressSource(ctx, ipam), undo, 0, {
        deviceRoutes: l3Only(conf),
      });
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

async function createIpvlan(
  h: Rtnl,
  pod: Pod,
  conf: IpvlanConf,
  master: link.Link,
  name: string,
): Promise<void> {
  try {
    await link.create(
      h,
      {
        name,
        kind: 'ipvlan',
        parent: master.index,
        data: kinds.ipvlanData(conf.effectiveMode, conf.effectiveFlag),
        ...(conf.linkInContainer ? {} : { netns: pod.ns }),
        ...(conf.mtu ? { mtu: conf.mtu } : {}),
      },
      `ipvlan on master ${JSON.stringify(master.name)}`,
    );
  } catch (err) {
    if (isErrno(err, 'EBUSY') && err instanceof CniError) {
      throw new CniError(
        err.code,
        err.message,
        `master ${JSON.stringify(master.name)} already carries macvlan links (or is itself a slave); a master takes ipvlan or macvlan, not both`,
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
    if (l.kind !== 'ipvlan') {
      log.info(
        `DEL: ${JSON.stringify(ctx.ifname)} in ${pod.path} is a ${l.kind ?? 'device'}, not an ipvlan: left alone`,
      );
      return;
    }
    await link.remove(pod.rtnl, l.index, `ipvlan ${JSON.stringify(ctx.ifname)}`);
  });
}

async function check(ctx: Ctx): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  await ipam?.check();
  const prev = ctx.prevResult as Result;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    if (conf.master) {
      const side = masterSide(conf, pod);
      await resolveMaster(side.rtnl, conf.master, side.where);
    }
    const l = await checkPodLink(pod, iface, 'ipvlan');
    const { mode, flag } = kinds.ipvlanMode(l);
    if (mode !== conf.effectiveMode || flag !== conf.effectiveFlag) {
      throw new CniError(
        Code.Internal,
        `ipvlan ${JSON.stringify(l.name)} is in mode ${mode ?? '?'} ${flag ?? '?'}, config says ${conf.effectiveMode} ${conf.effectiveFlag}`,
      );
    }
    await checkL3(pod, l, prev, index, { deviceRoutes: l3Only(conf) });
  });
}

async function status(ctx: Ctx): Promise<void> {
  if (!ctx.conf.linkInContainer && ctx.conf.master) {
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

export const plugin: Plugin<IpvlanConf> = {
  type: 'ipvlan',
  parseConfig: parseIpvlanConf,
  add,
  del,
  check,
  status,
  gc,
};
