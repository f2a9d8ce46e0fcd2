/**
 * The VF's netdev: into the pod under a temporary name, then CNI_IFNAME; back to the host
 * under a temporary name, then its original name, MAC, MTU and up state. The host finds it by
 * PCI address in sysfs, which also finds it after the kernel returned it on its own (a pod
 * netns destroyed with the VF inside hands it back to the initial netns, under its pod name).
 */
import type { Pod } from '../../src/attach/pod.ts';
import { CniError, Code, describeError, q } from '../../src/cni/errors.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import type { Sysfs } from '../../src/kernel/sysfs.ts';
import * as vf from '../../src/kernel/vf.ts';
import { hash8 } from '../../src/util/hash.ts';
import { log } from '../../src/util/log.ts';
import { ZERO_MAC } from './pfside.ts';
import type { NetdevState } from './state.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MAC_TRIES = 10;

export function netdevStateOf(l: link.Link): NetdevState {
  return { name: l.name, ...(l.mac ? { mac: l.mac } : {}), mtu: l.mtu, up: l.up };
}

/** Whether `l` is the netdev of PCI function `pci` (a link without a parent device passes: fakes). */
export function isNetdevOf(l: link.Link, pci: string): boolean {
  const parent = vf.parentDevice(l);
  return parent === undefined || parent === pci;
}

/**
 * The name a VF's netdev has while it moves between the host and a pod: derived from its PCI
 * address (not random), so a DEL after a crash in the middle of a move still finds it, on
 * either side.
 */
export function vfTempName(pci: string): string {
  return `sv${hash8(pci)}`;
}

/** The VF's netdev in the host netns: a name sysfs lists for its PCI address (or its temporary name) that netlink finds. */
export async function hostNetdev(h: Rtnl, sys: Sysfs, pci: string): Promise<link.Link | undefined> {
  for (const name of [...sys.netdevs(pci), vfTempName(pci)]) {
    const l = await link.byName(h, name);
    if (l && isNetdevOf(l, pci)) return l;
  }
  return undefined;
}

/** hostNetdev, polled for up to `timeoutMs` (the kernel returns netdevs from a dying netns asynchronously). */
export async function waitHostNetdev(
  h: Rtnl,
  sys: Sysfs,
  pci: string,
  timeoutMs: number,
): Promise<link.Link | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await hostNetdev(h, sys, pci);
    if (l || Date.now() >= deadline) return l;
    await sleep(50);
  }
}

/** The VF's netdev inside the pod: `ifname`, its temporary name, else any link whose parent device is the VF. */
export async function podNetdev(pod: Pod, ifname: string, pci: string): Promise<link.Link | undefined> {
  for (const name of [ifname, vfTempName(pci)]) {
    const l = await link.byName(pod.rtnl, name);
    if (l && isNetdevOf(l, pci)) return l;
  }
  return (await link.list(pod.rtnl)).find((x) => vf.parentDevice(x) === pci);
}

/**
 * Sets a MAC and waits until the netdev reports it: some VF drivers apply it asynchronously
 * through the PF, or answer EBUSY while the PF is still busy with an earlier change.
 */
export async function setMac(h: Rtnl, index: number, name: string, mac: string): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await link.set(h, index, { mac }, `VF netdev ${q(name)}`);
      const now = await link.byIndex(h, index);
      if (now?.mac === mac) return;
      if (i >= MAC_TRIES) {
        throw new CniError(
          Code.Internal,
          `failed to set MAC ${mac} on VF netdev ${q(name)}: it still reports ${now?.mac ?? 'no MAC'}`,
        );
      }
    } catch (err) {
      if (i >= MAC_TRIES || !isErrno(err, 'EBUSY', 'EAGAIN')) throw err;
    }
    await sleep(100);
  }
}

/**
 * Moves host netdev `l` into the pod as `ifname` (with `mac` when given; `pfSetMac` sets the
 * PF-side MAC when the config has one) and returns it there.
 * `onMoved` gets the pod-side index as soon as it is there, so a rollback can find it.
 */
export async function moveIntoPod(
  h: Rtnl,
  l: link.Link,
  pci: string,
  pod: Pod,
  ifname: string,
  mac: string | undefined,
  onMoved: (podIndex: number) => void,
  pfSetMac?: (mac: string) => Promise<void>,
): Promise<link.Link> {
  const tmp = vfTempName(pci);
  await link.set(h, l.index, { netns: pod.ns, name: tmp }, `VF netdev ${q(l.name)}`);
  const moved = await link.mustByName(pod.rtnl, tmp, `in netns ${q(pod.path)}`);
  onMoved(moved.index);
  await link.set(pod.rtnl, moved.index, { name: ifname }, `VF netdev ${q(tmp)}`);
  if (mac) await setPodMac(pod, moved.index, ifname, mac, pfSetMac);
  return link.mustByName(pod.rtnl, ifname, `in netns ${q(pod.path)}`);
}

/**
 * The pod MAC on the VF netdev. With the same MAC already set PF-side, a VF driver may be
 * refused its own request (igbvf without trust: the PF locks an administrative MAC, and the
 * VF only picks it up when reset: EADDRNOTAVAIL). Then the PF-side MAC is cleared for the
 * request and set again right after, through `pfSetMac`.
 */
async function setPodMac(
  pod: Pod,
  index: number,
  ifname: string,
  mac: string,
  pfSetMac: ((mac: string) => Promise<void>) | undefined,
): Promise<void> {
  try {
    await setMac(pod.rtnl, index, ifname, mac);
    return;
  } catch (err) {
    if (!pfSetMac || !isErrno(err, 'EADDRNOTAVAIL')) throw err;
    log.info(
      `VF netdev ${q(ifname)} refused MAC ${mac} (${describeError(err)}): unlocking it PF-side for the change`,
    );
  }
  await pfSetMac(ZERO_MAC);
  try {
    await setMac(pod.rtnl, index, ifname, mac);
  } finally {
    await pfSetMac(mac);
  }
}

/** Takes netdev `podIndex` out of the pod into the host under a temporary name; returns it there. */
export async function moveToHost(
  h: Rtnl,
  pod: Pod,
  podIndex: number,
  name: string,
  pci: string,
): Promise<link.Link> {
  const what = `VF netdev ${q(name)} in netns ${q(pod.path)}`;
  await link.set(pod.rtnl, podIndex, { up: false }, what);
  const tmp = vfTempName(pci);
  const home = NetNS.current();
  try {
    await link.set(pod.rtnl, podIndex, { netns: home, name: tmp }, what);
  } finally {
    home.close();
  }
  return link.mustByName(h, tmp, 'in the host netns');
}

/**
 * Gives host netdev `l` its original name, MAC, MTU and up state back. `forceMac` sets the
 * MAC even when it is already right: after the PF-side MAC was cleared, that registers it
 * with the PF again. A VF driver refusing its MAC (EADDRNOTAVAIL: the PF enforces an
 * administrative one) is logged, not fatal: the PF's MAC is the one that counts then.
 */
export async function restoreInHost(
  h: Rtnl,
  l: link.Link,
  orig: NetdevState,
  forceMac = false,
): Promise<void> {
  const what = `VF netdev ${q(l.name)}`;
  let up = l.up;
  if (l.name !== orig.name) {
    if (up) await link.set(h, l.index, { up: false }, what);
    up = false;
    await link.set(h, l.index, { name: orig.name }, what);
  }
  if (orig.mac && (forceMac || l.mac !== orig.mac)) {
    try {
      await setMac(h, l.index, orig.name, orig.mac);
    } catch (err) {
      if (!isErrno(err, 'EADDRNOTAVAIL', 'EPERM')) throw err;
      log.error(`VF netdev ${q(orig.name)}: MAC ${orig.mac} not restored: ${describeError(err)}`);
    }
  }
  if (orig.mtu && l.mtu !== orig.mtu)
    await link.set(h, l.index, { mtu: orig.mtu }, `VF netdev ${q(orig.name)}`);
  if (up !== orig.up) await link.set(h, l.index, { up: orig.up }, `VF netdev ${q(orig.name)}`);
}
