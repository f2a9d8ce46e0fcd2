/**
 * The steps of an sriov ADD after discovery: a stale record taken over, PF-side settings
 * applied one by one, the netdev moved into the pod (or, in DPDK mode, only IPAM), the record
 * marked attached; and the rollback that puts the VF back when a step fails.
 */
import { allocate, configureL3, type L3, l3Of } from '../../src/attach/l3.ts';
import type { Pod } from '../../src/attach/pod.ts';
import type { Undo } from '../../src/attach/undo.ts';
import { CniError, Code, describeError, q } from '../../src/cni/errors.ts';
import type { PluginContext } from '../../src/cni/plugin.ts';
import type { Interface, Result } from '../../src/cni/result.ts';
import type { Ipam } from '../../src/ipam/client.ts';
import * as link from '../../src/kernel/link.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import { log } from '../../src/util/log.ts';
import type { SriovConf } from './config.ts';
import { moveIntoPod, moveToHost, restoreInHost } from './netdev.ts';
import { type PfRef, resetSteps, runStep, type Step, wantOf, ZERO_MAC } from './pfside.ts';
import { netnsLive, type RestoreOptions, restoreVf } from './restore.ts';
import type { VfRecord, VfStore } from './state.ts';

export interface Attach {
  readonly h: Rtnl;
  readonly pf: PfRef;
  readonly rec: VfRecord;
  readonly steps: readonly Step[];
  readonly ipam: Ipam | undefined;
  readonly pod: Pod | undefined;
  readonly netdev: link.Link | undefined;
  readonly store: VfStore;
}

export async function attach(ctx: PluginContext<SriovConf>, a: Attach, undo: Undo): Promise<Result> {
  const { h, pf, rec, pod } = a;
  const done: Step[] = [];
  let podIndex: number | undefined;
  undo.push(`put VF ${rec.pciAddress} back`, async () => {
    const orig = rec.original.pf;
    const undoWant = wantOf(ctx.conf.want, done);
    const netdev = rec.original.netdev;
    for (const s of orig ? resetSteps(undoWant, orig, netdev?.mac) : []) {
      await runStep(h, pf, rec.vfIndex, s).catch((e: unknown) => log.error(`rollback: ${describeError(e)}`));
    }
    const forceMac = undoWant.mac !== undefined;
    if (pod && podIndex !== undefined && netdev) {
      await restoreInHost(
        h,
        await moveToHost(h, pod, podIndex, ctx.ifname, rec.pciAddress),
        netdev,
        forceMac,
      );
    } else if (a.netdev && netdev && forceMac) {
      const still = await link.byIndex(h, a.netdev.index);
      if (still) await restoreInHost(h, still, netdev, true);
    }
    // Reached only when the VF is back: otherwise the record stays for DEL (or GC) to finish.
    a.store.remove(rec.pciAddress);
  });
  for (const s of a.steps) {
    await runStep(h, pf, rec.vfIndex, s);
    done.push(s);
  }
  let iface: Interface;
  let l3: L3;
  if (pod && a.netdev) {
    const macStep = done.find((s) => s.key === 'mac');
    const pfSetMac = macStep
      ? (mac: string) =>
          runStep(h, pf, rec.vfIndex, { ...macStep, what: `MAC ${mac}`, setting: { kind: 'mac', mac } })
      : undefined;
    const onMoved = (i: number) => {
      podIndex = i;
    };
    await moveIntoPod(h, a.netdev, rec.pciAddress, pod, ctx.ifname, ctx.conf.effectiveMac, onMoved, pfSetMac);
    l3 = await configureL3(pod, ctx.ifname, a.ipam, undo, 0);
    const final = await link.mustByName(pod.rtnl, ctx.ifname, `in netns ${q(pod.path)}`);
    iface = { name: ctx.ifname, mac: final.mac, mtu: final.mtu, sandbox: pod.path, pciID: rec.pciAddress };
  } else {
    l3 = await dpdkIpam(a.ipam, undo);
    const admin = rec.original.pf?.mac;
    const mac = ctx.conf.effectiveMac ?? (admin && admin !== ZERO_MAC ? admin : undefined);
    iface = { name: ctx.ifname, mac, sandbox: ctx.netns, pciID: rec.pciAddress };
  }
  a.store.write({ ...rec, phase: 'attached' });
  return {
    cniVersion: ctx.cniVersion,
    interfaces: [iface],
    ips: l3.ips,
    routes: l3.routes,
    dns: ctx.conf.dns ?? l3.dns,
  };
}

/** DPDK mode: addresses for the application to use; nothing is configured in the pod. */
async function dpdkIpam(ipam: Ipam | undefined, undo: Undo): Promise<L3> {
  if (!ipam) return { ips: [], routes: [], dns: undefined };
  return l3Of(await allocate(ipam, undo), 0);
}

/**
 * A record already exists for this VF: refused while its netns lives (its DEL has not run);
 * otherwise stale (the pod died without DEL, or DEL could not finish): restored, and its host
 * netdev returned.
 */
export async function takeOver(
  h: Rtnl,
  store: VfStore,
  pci: string,
  opts: RestoreOptions,
): Promise<link.Link | undefined> {
  const rec = store.read(pci);
  if (!rec) return undefined;
  const owner = `container ${q(rec.containerId)} interface ${q(rec.ifname)}`;
  if (netnsLive(rec.netns)) {
    throw new CniError(
      Code.TryAgainLater,
      `failed to allocate VF ${q(pci)}: it is allocated to ${owner} in netns ${q(rec.netns)}`,
      'that attachment has not been deleted yet',
    );
  }
  log.info(`VF ${pci}: restoring it from the stale record of ${owner} (netns ${q(rec.netns)} is gone)`);
  const restored = await restoreVf(h, rec, opts);
  if (restored.pending) {
    throw new CniError(
      Code.TryAgainLater,
      `failed to allocate VF ${q(pci)}: its netdev has not come back to the host netns from ${owner}`,
      `netns ${q(rec.netns)} is gone from the filesystem but something still holds it`,
    );
  }
  store.remove(pci);
  // Its host netdev as restored (sysfs may still show the name it came back under).
  return restored.index === undefined ? undefined : link.byIndex(h, restored.index);
}
