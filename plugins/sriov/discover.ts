/**
 * Which VF a deviceID names, from sysfs: its PF netdev (`physfn/net/*`), its index on that PF
 * (the PF's `virtfnN` link pointing at it) and its driver (a DPDK driver means no netdev).
 */

import { CniError, Code, invalidConfig, q } from '../../src/cni/errors.ts';
import { DPDK_DRIVERS, type Sysfs } from '../../src/kernel/sysfs.ts';

export interface VfDevice {
  readonly pci: string;
  readonly pfPci: string;
  /** The PF's netdev in the host netns. */
  readonly pf: string;
  readonly vfIndex: number;
  readonly driver: string | undefined;
}

export function discoverVf(sys: Sysfs, pci: string): VfDevice {
  if (!sys.pciExists(pci)) {
    throw new CniError(
      Code.Internal,
      `failed to find VF ${q(pci)}: no PCI device ${q(sys.pciPath(pci))}`,
      'are the VFs created (sriov_numvfs) and is deviceID right?',
    );
  }
  const pfPci = sys.physfn(pci);
  if (!pfPci) throw invalidConfig('deviceID', `${q(pci)} is not an SR-IOV virtual function (no physfn link)`);
  const pfs = sys.netdevs(pfPci);
  if (pfs.length === 0) {
    throw new CniError(
      Code.Internal,
      `failed to find the PF of VF ${q(pci)}: PF ${q(pfPci)} has no network interface in the host netns`,
    );
  }
  for (const pf of pfs) {
    const vfIndex = sys.vfIndex(pf, pci);
    if (vfIndex !== undefined) return { pci, pfPci, pf, vfIndex, driver: sys.driver(pci) };
  }
  throw new CniError(
    Code.Internal,
    `failed to find VF ${q(pci)} among the virtfn links of PF ${q(pfs[0] ?? pfPci)}`,
  );
}

export function isDpdkDriver(driver: string | undefined): boolean {
  return driver !== undefined && DPDK_DRIVERS.includes(driver);
}

/** The PF netdev of a VF now (it may have been renamed since ADD), else `fallback`. */
export function currentPf(sys: Sysfs, pci: string, fallback: string): string {
  const pfPci = sys.physfn(pci);
  return (pfPci && sys.netdevs(pfPci)[0]) || fallback;
}
