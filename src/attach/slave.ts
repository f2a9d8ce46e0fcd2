/**
 * What macvlan and ipvlan share: a slave of a master interface, created straight into the
 * pod's namespace under a temporary name and renamed, then addressed; its DEL, the CHECK of
 * everything but the kind-specific attributes, and STATUS of the master.
 */

import { CniError, Code, q } from '../cni/errors.ts';
import type { CheckContext, PluginContext } from '../cni/plugin.ts';
import type { DNS, Result } from '../cni/result.ts';
import type { Ipam } from '../ipam/client.ts';
import { isErrno } from '../kernel/errors.ts';
import * as link from '../kernel/link.ts';
import type { Attr } from '../kernel/nl/attrs.ts';
import { hostRtnl, type Rtnl } from '../kernel/socket.ts';
import { checkL3, checkPodLink, configureL3, type GivenIPs, resultInterface } from './l3.ts';
import { resolveMaster } from './master.ts';
import { clearTempLink, type Pod, podTempName, withPod } from './pod.ts';
import { transaction } from './undo.ts';

export type SlaveKind = 'macvlan' | 'ipvlan';

export interface SlaveSpec {
  readonly kind: SlaveKind;
  /** The network name (the slave's temporary name derives from the attachment). */
  readonly network: string;
  /** The master's name; undefined: the default-route interface. */
  readonly master: string | undefined;
  /** The master lives in the pod's namespace rather than the host's. */
  readonly linkInContainer: boolean;
  readonly mtu: number | undefined;
  readonly mac?: string | undefined;
  /** IFLA_INFO_DATA of the kind. */
  readonly data: readonly Attr[];
  /** Where addresses come from; none: only bring the link up. */
  readonly addresses: Ipam | GivenIPs | undefined;
  /** Every route as a device route (ipvlan L3/L3S). */
  readonly deviceRoutes?: boolean;
  /** The config's `dns`, which wins over IPAM's. */
  readonly dns: DNS | undefined;
}

const OTHER: Record<SlaveKind, SlaveKind> = { macvlan: 'ipvlan', ipvlan: 'macvlan' };

/** Where the master lives: the host, or the pod itself with linkInContainer. */
function masterSide(linkInContainer: boolean, pod: Pod): { rtnl: Rtnl; where: string } {
  return linkInContainer
    ? { rtnl: pod.rtnl, where: `in netns ${q(pod.path)}` }
    : { rtnl: hostRtnl(), where: 'in the host netns' };
}

export async function addSlave(ctx: PluginContext<unknown>, spec: SlaveSpec): Promise<Result> {
  return withPod(ctx.netns, async (pod) => {
    await pod.assertFree(ctx.ifname);
    const side = masterSide(spec.linkInContainer, pod);
    const master = await resolveMaster(side.rtnl, spec.master, side.where);
    if (spec.mtu && spec.mtu > master.mtu) {
      throw new CniError(
        Code.InvalidConfig,
        `mtu: ${spec.mtu} is larger than the MTU ${master.mtu} of master ${q(master.name)}`,
      );
    }
    const key = { network: spec.network, containerId: ctx.containerId, ifname: ctx.ifname };
    await clearTempLink(pod, key, spec.kind);
    return transaction(async (undo) => {
      const tmp = podTempName(key);
      await createSlave(side.rtnl, pod, spec, master, tmp);
      const created = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
      undo.push(`delete ${spec.kind} ${q(tmp)}`, () => link.remove(pod.rtnl, created.index));
      await link.set(pod.rtnl, created.index, { name: ctx.ifname }, `${spec.kind} ${q(tmp)}`);
      const l3 = await configureL3(pod, ctx.ifname, spec.addresses, undo, 0, {
        deviceRoutes: spec.deviceRoutes === true,
      });
      const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
      return {
        cniVersion: ctx.cniVersion,
        interfaces: [{ name: ctx.ifname, mac: final.mac, mtu: final.mtu, sandbox: pod.path }],
        ips: l3.ips,
        routes: l3.routes,
        dns: spec.dns ?? l3.dns,
      };
    });
  });
}

async function createSlave(
  h: Rtnl,
  pod: Pod,
  spec: SlaveSpec,
  master: link.Link,
  name: string,
): Promise<void> {
  try {
    await link.create(
      h,
      {
        name,
        kind: spec.kind,
        parent: master.index,
        data: spec.data,
        ...(spec.linkInContainer ? {} : { netns: pod.ns }),
        ...(spec.mtu ? { mtu: spec.mtu } : {}),
        ...(spec.mac ? { mac: spec.mac } : {}),
      },
      `${spec.kind} on master ${q(master.name)}`,
    );
  } catch (err) {
    if (isErrno(err, 'EBUSY') && err instanceof CniError) {
      throw new CniError(
        err.code,
        err.message,
        `master ${q(master.name)} already carries ${OTHER[spec.kind]} links (or is itself a slave); a master takes macvlan or ipvlan, not both`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * CHECK of a slave: the master exists (when `checkMaster`), the pod link is of the kind with
 * prevResult's MAC, `verify` accepts its kind-specific attributes, addresses and routes hold.
 */
export async function checkSlave(
  ctx: CheckContext<unknown>,
  spec: Pick<SlaveSpec, 'kind' | 'master' | 'linkInContainer' | 'deviceRoutes'> & {
    readonly checkMaster: boolean;
  },
  verify: (l: link.Link) => void,
): Promise<void> {
  const prev = ctx.prevResult;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  await withPod(ctx.netns, async (pod) => {
    if (spec.checkMaster) {
      const side = masterSide(spec.linkInContainer, pod);
      await resolveMaster(side.rtnl, spec.master, side.where);
    }
    const l = await checkPodLink(pod, iface, spec.kind);
    verify(l);
    await checkL3(pod, l, prev, index, { deviceRoutes: spec.deviceRoutes === true });
  });
}

/** STATUS: the master (named or by default route) exists in the host; code 50 otherwise. */
export async function masterStatus(master: string | undefined): Promise<void> {
  try {
    await resolveMaster(hostRtnl(), master, 'in the host netns');
  } catch (err) {
    throw new CniError(Code.CannotServeAdd, (err as Error).message);
  }
}
