/**
 * A fake sysfs PCI tree in a temp directory, for MANIFOLD_SYSFS_ROOT: the layout SR-IOV code
 * reads on real hardware, nothing else.
 *
 *   bus/pci/devices/<pf>/{net/<pfname>/, driver -> ../../../drivers/<drv>, sriov_numvfs,
 *                         virtfn<N> -> ../<vf>}
 *   bus/pci/devices/<vf>/{physfn -> ../<pf>, net/<name>/, driver -> ../../../drivers/<drv>}
 *   bus/pci/drivers/<drv>/
 *   class/net/<pfname>/device -> ../../../bus/pci/devices/<pf>
 *
 * Real sysfs lists under `net/` only the netdevs in the host netns, under their current
 * names: tests mirror what the kernel does with setNetdev().
 */
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from './scratch.ts';

export interface FakeVf {
  /** The netdev name sysfs shows; omit for a VF without one (DPDK driver). */
  readonly netdev?: string;
  /** Default igbvf. */
  readonly driver?: string;
}

export class FakeSysfs {
  readonly root: string;

  constructor(root = scratchDir('manifold-sysfs-')) {
    this.root = root;
    mkdirSync(join(this.root, 'bus/pci/devices'), { recursive: true });
    mkdirSync(join(this.root, 'class/net'), { recursive: true });
  }

  dev(pci: string): string {
    return join(this.root, 'bus/pci/devices', pci);
  }

  #driver(pci: string, driver: string | undefined): void {
    if (!driver) return;
    mkdirSync(join(this.root, 'bus/pci/drivers', driver), { recursive: true });
    symlinkSync(`../../drivers/${driver}`, join(this.dev(pci), 'driver'));
  }

  /** A PF PCI function with netdev `netdev` (pass undefined for a PF without one). */
  addPf(pci: string, netdev: string | undefined, driver = 'igb'): this {
    mkdirSync(this.dev(pci), { recursive: true });
    writeFileSync(join(this.dev(pci), 'sriov_numvfs'), '0\n');
    writeFileSync(join(this.dev(pci), 'sriov_totalvfs'), '7\n');
    this.#driver(pci, driver);
    if (netdev) {
      mkdirSync(join(this.dev(pci), 'net', netdev), { recursive: true });
      mkdirSync(join(this.root, 'class/net', netdev));
      symlinkSync(`../../../bus/pci/devices/${pci}`, join(this.root, 'class/net', netdev, 'device'));
    }
    return this;
  }

  /** VF number `index` of PF `pfPci` at `pci`. */
  addVf(pfPci: string, index: number, pci: string, vf: FakeVf = {}): this {
    mkdirSync(this.dev(pci), { recursive: true });
    symlinkSync(`../${pfPci}`, join(this.dev(pci), 'physfn'));
    symlinkSync(`../${pci}`, join(this.dev(pfPci), `virtfn${index}`));
    const n = readdirSync(this.dev(pfPci)).filter((e) => e.startsWith('virtfn')).length;
    writeFileSync(join(this.dev(pfPci), 'sriov_numvfs'), `${n}\n`);
    this.#driver(pci, vf.driver ?? 'igbvf');
    this.setNetdev(pci, vf.netdev);
    return this;
  }

  /** A PCI function that is not a VF (no physfn). */
  addPlain(pci: string, netdev?: string): this {
    mkdirSync(this.dev(pci), { recursive: true });
    this.setNetdev(pci, netdev);
    return this;
  }

  /** What `net/` of `pci` lists: its netdev's current name in the host netns, or nothing. */
  setNetdev(pci: string, name: string | undefined): void {
    const net = join(this.dev(pci), 'net');
    rmSync(net, { recursive: true, force: true });
    mkdirSync(net);
    if (name) mkdirSync(join(net, name));
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
