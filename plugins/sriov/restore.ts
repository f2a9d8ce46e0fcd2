/**
 * Putting a VF back as its record says — for DEL, GC, and an ADD that finds a stale record:
 * PF-side settings first (some drivers refuse a netdev MAC change while the PF-side MAC is
 * still set), then the netdev, from the pod when it is still there, else from the host where
 * the kernel put it when the pod's netns was destroyed.
 */
import { Pod } from '../../src/attach/pod.ts';
import { Attempts } from '../../src/cni/attempts.ts';
import { describeError, q } from '../../src/cni/errors.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import type { Sysfs } from '../../src/kernel/sysfs.ts';
import { log } from '../../src/util/log.ts';
import { currentPf } from './discover.ts';
import { hostNetdev, moveToHost, podNetdev, restoreInHost, waitHostNetdev } from './netdev.ts';
import { readPf, resetSteps, runStep } from './pfside.ts';
import type { VfRecord, VfStore } from './state.ts';

export interface RestoreOptions {
  readonly sys: Sysfs;
  /** How long to wait for the kernel to hand back a netdev whose pod netns is gone. */
  readonly waitMs: number;
}

/**
 * pending: the PF side is reset but the netdev is not back in the host yet; otherwise the VF
 * is as it was, and `index` is its netdev's host ifindex when there is one.
 */
export interface Outcome {
  readonly pending: boolean;
  readonly index?: number;
}
const DONE: Outcome = { pending: false };

/** Whether `path` still opens as a network namespace. */
export function netnsLive(path: string): boolean {
  if (!path) return false;
  try {
    NetNS.open(path).close();
    return true;
  } catch {
    return false;
  }
}

function openPod(path: string): Pod | undefined {
  if (!path) return undefined;
  try {
    return Pod.open(path);
  } catch {
    return undefined;
  }
}

async function resetPf(h: Rtnl, rec: VfRecord, sys: Sysfs): Promise<void> {
  const orig = rec.original.pf;
  if (!orig) return;
  const steps = resetSteps(rec.applied, orig, rec.original.netdev?.mac);
  if (steps.length === 0) return;
  const { pf } = await readPf(h, currentPf(sys, rec.pciAddress, rec.pf), rec.vfIndex);
  const attempts = new Attempts();
  for (const s of steps) await attempts.run(() => runStep(h, pf, rec.vfIndex, s));
  attempts.throwIfFailed('VF settings could not be reset');
}

async function returnNetdev(h: Rtnl, rec: VfRecord, opts: RestoreOptions): Promise<Outcome> {
  const orig = rec.original.netdev;
  if (!orig) return DONE;
  // The PF-side MAC was cleared or reset: setting the netdev's MAC registers it with the PF again.
  const forceMac = rec.applied.mac !== undefined;
  const pod = openPod(rec.netns);
  if (pod) {
    try {
      const l = await podNetdev(pod, rec.ifname, rec.pciAddress);
      if (l) {
        const back = await moveToHost(h, pod, l.index, l.name, rec.pciAddress);
        await restoreInHost(h, back, orig, forceMac);
        return { pending: false, index: back.index };
      }
    } finally {
      pod.close();
    }
  }
  // Not in a pod we can open: in the host already, or on its way there from a dying netns.
  const l = pod
    ? await hostNetdev(h, opts.sys, rec.pciAddress)
    : await waitHostNetdev(h, opts.sys, rec.pciAddress, opts.waitMs);
  if (!l) {
    log.error(
      `VF ${rec.pciAddress}: netdev not found in the host netns (netns ${q(rec.netns)} ${pod ? 'does not hold it' : 'is gone'}); will restore it when it comes back`,
    );
    return { pending: true };
  }
  await restoreInHost(h, l, orig, forceMac);
  return { pending: false, index: l.index };
}

/**
 * Restores everything the record says was changed, trying every step; throws the failures
 * together after that. A record still in phase "adding" (an ADD
 * that crashed) may list settings the driver refused: their reset failures are only logged.
 */
export async function restoreVf(h: Rtnl, rec: VfRecord, opts: RestoreOptions): Promise<Outcome> {
  if (!opts.sys.pciExists(rec.pciAddress)) {
    log.info(`VF ${rec.pciAddress} no longer exists (VFs removed?): nothing to restore`);
    return DONE;
  }
  const attempts = new Attempts();
  if (rec.phase !== 'released') {
    await attempts.run(() =>
      resetPf(h, rec, opts.sys).catch((err: unknown) => {
        if (rec.phase !== 'adding') throw err;
        log.error(`VF ${rec.pciAddress}: ${describeError(err)}`);
      }),
    );
  }
  let outcome = DONE;
  if (!rec.dpdk) {
    await attempts.run(async () => {
      outcome = await returnNetdev(h, rec, opts);
    });
  }
  attempts.throwIfFailed('VF restore steps failed');
  return outcome;
}

/**
 * Under the VF's lock: restores the VF of the record at `pci` if `mine` still accepts it, then
 * removes the record (or marks it "released" while the netdev is not back).
 */
export async function release(
  h: Rtnl,
  store: VfStore,
  pci: string,
  mine: (r: VfRecord) => boolean,
  opts: RestoreOptions,
): Promise<void> {
  const lock = await store.lock(pci);
  try {
    const rec = store.read(pci);
    if (!rec || !mine(rec)) return;
    const outcome = await restoreVf(h, rec, opts);
    if (!outcome.pending) store.remove(pci);
    else store.write({ ...rec, phase: 'released' });
  } finally {
    lock.release();
  }
}
