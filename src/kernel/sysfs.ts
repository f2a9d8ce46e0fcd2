/**
 * sysfs reads for SR-IOV: PCI functions, their PF, VF index, netdevs and driver. Everything
 * is read under a root (MANIFOLD_SYSFS_ROOT, default /sys) so tests can build a fake PCI tree.
 *
 * The `net/` directory of a PCI device lists only the netdevs in the network namespace that
 * mounted sysfs (the host's): a VF moved into a pod disappears from it, and reappears, under
 * its current name, when it comes back.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

export const DEFAULT_SYSFS_ROOT = '/sys';

/** Userspace (DPDK) drivers: a VF bound to one has no netdev. */
export const DPDK_DRIVERS: readonly string[] = ['vfio-pci', 'uio_pci_generic', 'igb_uio'];

/** The sysfs root a call uses: MANIFOLD_SYSFS_ROOT from the call's environment, else /sys. */
export function sysfsRoot(env: Readonly<Record<string, string | undefined>>): string {
  return env.MANIFOLD_SYSFS_ROOT || DEFAULT_SYSFS_ROOT;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function readlinkBase(path: string): string | undefined {
  try {
    return basename(readlinkSync(path));
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'EINVAL') return undefined;
    throw err;
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return [];
    throw err;
  }
}

export class Sysfs {
  readonly root: string;

  constructor(root: string = DEFAULT_SYSFS_ROOT) {
    this.root = root;
  }

  /** `<root>/bus/pci/devices/<address>`. */
  pciPath(address: string): string {
    return join(this.root, 'bus/pci/devices', address);
  }

  /** Whether a PCI function with this address exists. */
  pciExists(address: string): boolean {
    try {
      readdirSync(this.pciPath(address));
      return true;
    } catch {
      return false;
    }
  }

  /** The PCI address of the PF of VF `address` (its `physfn` link), or undefined for a non-VF. */
  physfn(address: string): string | undefined {
    return readlinkBase(join(this.pciPath(address), 'physfn'));
  }

  /** Names of the netdevs of PCI function `address` in the host namespace, sorted. */
  netdevs(address: string): string[] {
    return listDir(join(this.pciPath(address), 'net'));
  }

  /** The driver bound to `address` (basename of its `driver` link), or undefined. */
  driver(address: string): string | undefined {
    return readlinkBase(join(this.pciPath(address), 'driver'));
  }

  /**
   * The index N of the `virtfnN` link of PF netdev `pf` (`/class/net/<pf>/device/virtfnN`)
   * that points at VF `address`, or undefined.
   */
  vfIndex(pf: string, address: string): number | undefined {
    const dev = join(this.root, 'class/net', pf, 'device');
    for (const entry of listDir(dev)) {
      const m = /^virtfn(\d+)$/.exec(entry);
      if (m?.[1] && readlinkBase(join(dev, entry)) === address) return Number(m[1]);
    }
    return undefined;
  }

  /** `sriov_numvfs` of PF netdev `pf`, or undefined when it has none. */
  numVfs(pf: string): number | undefined {
    try {
      const n = Number.parseInt(
        readFileSync(join(this.root, 'class/net', pf, 'device/sriov_numvfs'), 'utf8'),
        10,
      );
      return Number.isNaN(n) ? undefined : n;
    } catch {
      return undefined;
    }
  }
}
