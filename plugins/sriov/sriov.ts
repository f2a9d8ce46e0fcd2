/**
 * sriov: hands a pod an SR-IOV VF. The VF's original state is recorded before anything
 * changes; PF-side settings go one netlink request each; the VF netdev moves into the pod
 * under a temporary name and becomes CNI_IFNAME (a VF bound to a DPDK driver has no netdev:
 * PF side and IPAM only). DEL puts everything back, also when the pod's netns is gone.
 */
import { checkL3, resultInterface } from '../../src/attach/l3.ts';
import { Pod, withPod } from '../../src/attach/pod.ts';
import { transaction } from '../../src/attach/undo.ts';
import { Attempts } from '../../src/cni/attempts.ts';
import { CniError, Code, describeError, invalidConfig, q } from '../../src/cni/errors.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { Result } from '../../src/cni/result.ts';
import { openIpam } from '../../src/ipam/client.ts';
import * as link from '../../src/kernel/link.ts';
import { hostRtnl } from '../../src/kernel/socket.ts';
import { Sysfs, sysfsRoot } from '../../src/kernel/sysfs.ts';
import { log } from '../../src/util/log.ts';
import { attach, takeOver } from './attach.ts';
import { parseSriovConf, type SriovConf } from './config.ts';
import { currentPf, discoverVf, isDpdkDriver } from './discover.ts';
import { hostNetdev, isNetdevOf, netdevStateOf } from './netdev.ts';
import { applySteps, pfMismatch, pfStateOf, readPf } from './pfside.ts';
import { type RestoreOptions, release } from './restore.ts';
import { type VfRecord, VfStore } from './state.ts';

type Ctx = PluginContext<SriovConf>;

function restoreOptions(ctx: Ctx, waitMs = ctx.conf.effectiveReturnTimeout): RestoreOptions {
  return { sys: new Sysfs(sysfsRoot(ctx.env)), waitMs };
}

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  const pci = conf.effectiveDeviceID;
  if (!pci)
    throw invalidConfig('deviceID', 'is required: the PCI address of the VF (or runtimeConfig.deviceID)');
  const ipam = await openIpam(ctx);
  const opts = restoreOptions(ctx);
  const dev = discoverVf(opts.sys, pci);
  const store = new VfStore(conf.effectiveDataDir);
  const lock = await store.lock(pci);
  try {
    const h = hostRtnl();
    const netdev = (await takeOver(h, store, pci, opts)) ?? (await hostNetdev(h, opts.sys, pci));
    if (!netdev && !isDpdkDriver(dev.driver)) {
      throw new CniError(
        Code.Internal,
        `failed to attach VF ${q(pci)}: it has no network interface in the host netns and its driver ${q(dev.driver ?? 'none')} is not a DPDK driver`,
        'is it in use by another pod, or still being probed?',
      );
    }
    const { pf, info } = await readPf(h, dev.pf, dev.vfIndex);
    const origPf = info && pfStateOf(info);
    const steps = applySteps(conf.want, origPf);
    if (!info && steps[0]) {
      throw new CniError(
        Code.Internal,
        `failed to set VF ${dev.vfIndex} ${steps[0].what} on PF ${q(pf.name)}: the PF reports no VF ${dev.vfIndex} over netlink (IFLA_VFINFO_LIST)`,
      );
    }
    const rec: VfRecord = {
      version: 1,
      pciAddress: pci,
      pf: dev.pf,
      vfIndex: dev.vfIndex,
      dpdk: !netdev,
      network: conf.name,
      containerId: ctx.containerId,
      ifname: ctx.ifname,
      netns: ctx.netns,
      phase: 'adding',
      original: { ...(origPf ? { pf: origPf } : {}), ...(netdev ? { netdev: netdevStateOf(netdev) } : {}) },
      applied: conf.want,
    };
    const pod = netdev ? Pod.open(ctx.netns) : undefined;
    try {
      await pod?.assertFree(ctx.ifname);
      store.write(rec);
      return await transaction((undo) => attach(ctx, { h, pf, rec, steps, ipam, pod, netdev, store }, undo));
    } finally {
      pod?.close();
    }
  } finally {
    lock.release();
  }
}

/**
 * Releases the addresses and puts the VF back (PF side, then netdev), each attempted even if
 * the other fails: a VF must not stay configured because an IPAM plugin is missing.
 */
async function del(ctx: Ctx): Promise<void> {
  const conf = ctx.conf;
  let ipamError: unknown;
  try {
    const ipam = await openIpam(ctx);
    await ipam?.del();
  } catch (err) {
    ipamError = err;
    log.error(`DEL: IPAM: ${describeError(err)}; putting the VF back anyway`);
  }
  const store = new VfStore(conf.effectiveDataDir);
  const rec = store.find(conf.name, ctx.containerId, ctx.ifname, conf.effectiveDeviceID);
  if (rec) {
    const same = (r: VfRecord) =>
      r.network === rec.network && r.containerId === rec.containerId && r.ifname === rec.ifname;
    await release(hostRtnl(), store, rec.pciAddress, same, restoreOptions(ctx));
  } else {
    log.info(`DEL: no VF recorded for container ${q(ctx.containerId)} interface ${q(ctx.ifname)}`);
    // an ADD killed while writing the first record changed nothing yet, but left its temp file
    const pci = conf.effectiveDeviceID;
    if (pci && store.hasTemps(pci)) {
      const lock = await store.lock(pci);
      try {
        if (!store.read(pci)) store.remove(pci);
      } finally {
        lock.release();
      }
    }
  }
  if (ipamError !== undefined) throw ipamError;
}

async function check(ctx: CheckContext<SriovConf>): Promise<void> {
  const conf = ctx.conf;
  const ipam = await openIpam(ctx);
  await ipam?.check(ctx.prevResult);
  const store = new VfStore(conf.effectiveDataDir);
  const rec = store.find(conf.name, ctx.containerId, ctx.ifname, conf.effectiveDeviceID);
  if (rec?.phase !== 'attached') {
    throw new CniError(
      Code.Internal,
      `no VF is attached for container ${q(ctx.containerId)} interface ${q(ctx.ifname)}`,
    );
  }
  const h = hostRtnl();
  const sys = new Sysfs(sysfsRoot(ctx.env));
  const pfName = currentPf(sys, rec.pciAddress, rec.pf);
  const { info } = await readPf(h, pfName, rec.vfIndex);
  const wrong = info
    ? pfMismatch(rec.applied, info)
    : applySteps(rec.applied, undefined).length
      ? 'not reported by the PF'
      : undefined;
  if (wrong) throw new CniError(Code.Internal, `VF ${rec.vfIndex} of PF ${q(pfName)}: ${wrong}`);
  const prev = ctx.prevResult;
  const { iface, index } = resultInterface(prev, ctx.ifname, ctx.netns);
  if (iface.pciID && iface.pciID !== rec.pciAddress) {
    throw new CniError(
      Code.Internal,
      `interface ${q(iface.name)} is VF ${rec.pciAddress}, prevResult says ${iface.pciID}`,
    );
  }
  if (rec.dpdk) return;
  await withPod(ctx.netns, async (pod) => {
    const l = await link.byName(pod.rtnl, ctx.ifname);
    if (!l || !isNetdevOf(l, rec.pciAddress)) {
      throw new CniError(
        Code.Internal,
        `VF ${rec.pciAddress} is not in netns ${q(pod.path)} as ${q(ctx.ifname)}`,
      );
    }
    if (iface.mac && iface.mac.toLowerCase() !== l.mac) {
      throw new CniError(
        Code.Internal,
        `interface ${q(l.name)} has MAC ${l.mac}, prevResult says ${iface.mac}`,
      );
    }
    await checkL3(pod, l, prev, index);
  });
}

/** Can ADD be served: a VF named in the config itself is there, and IPAM is ready. */
async function status(ctx: Ctx): Promise<void> {
  const pci = ctx.conf.effectiveDeviceID;
  if (pci) {
    try {
      discoverVf(new Sysfs(sysfsRoot(ctx.env)), pci);
    } catch (err) {
      throw new CniError(Code.CannotServeAdd, describeError(err));
    }
  }
  const ipam = await openIpam(ctx);
  await ipam?.status();
}

/** Restores the VFs of this network whose attachments the runtime no longer lists. */
async function gc(ctx: GcContext<SriovConf>): Promise<void> {
  const conf = ctx.conf;
  const store = new VfStore(conf.effectiveDataDir);
  const key = (c: string, i: string) => `${c}\u0000${i}`;
  const valid = new Set(ctx.validAttachments.map((a) => key(a.containerID, a.ifname)));
  const gone = (r: VfRecord) => r.network === conf.name && !valid.has(key(r.containerId, r.ifname));
  const steps = new Attempts();
  for (const rec of store.list().filter(gone)) {
    await steps.run(() => release(hostRtnl(), store, rec.pciAddress, gone, restoreOptions(ctx, 0)));
  }
  await steps.run(async () => (await openIpam(ctx))?.gc(ctx.validAttachments));
  steps.throwIfFailed('GC steps failed (VF restores, IPAM GC)');
}

export const plugin: Plugin<SriovConf> = {
  type: 'sriov',
  parseConfig: parseSriovConf,
  add,
  del,
  check,
  status,
  gc,
};
