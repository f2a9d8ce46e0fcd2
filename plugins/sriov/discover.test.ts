import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sysfs, sysfsRoot } from '../../src/kernel/sysfs.ts';
import { FakeSysfs } from '../../test/helpers/fake-sysfs.ts';
import { cniErrorOf } from '../../test/helpers/skel.ts';
import { currentPf, discoverVf, isDpdkDriver } from './discover.ts';

const PF = '0000:01:00.0';
const fake = new FakeSysfs()
  .addPf(PF, 'enp1s0')
  .addVf(PF, 0, '0000:01:10.0', { netdev: 'enp1s0v0' })
  .addVf(PF, 1, '0000:01:10.2', { driver: 'vfio-pci' })
  .addVf(PF, 2, '0000:01:10.4', { netdev: 'enp1s0v2' })
  .addPf('0000:02:00.0', undefined)
  .addVf('0000:02:00.0', 0, '0000:02:10.0', { netdev: 'x0' })
  .addPlain('0000:03:00.0', 'eth9');
const sys = new Sysfs(fake.root);

afterAll(() => fake.cleanup());

describe('sysfs (fake tree)', () => {
  it('reads PF, netdevs, driver, VF index and sriov_numvfs as on real hardware', () => {
    expect(sys.physfn('0000:01:10.0')).toBe(PF);
    expect(sys.physfn(PF)).toBeUndefined();
    expect(sys.netdevs('0000:01:10.0')).toEqual(['enp1s0v0']);
    expect(sys.netdevs('0000:01:10.2')).toEqual([]);
    expect(sys.netdevs('0000:09:00.0')).toEqual([]);
    expect(sys.driver('0000:01:10.2')).toBe('vfio-pci');
    expect(sys.driver('0000:03:00.0')).toBeUndefined();
    expect(sys.vfIndex('enp1s0', '0000:01:10.4')).toBe(2);
    expect(sys.vfIndex('enp1s0', '0000:02:10.0')).toBeUndefined();
    expect(sys.numVfs('enp1s0')).toBe(3);
    expect(sys.numVfs('nope')).toBeUndefined();
  });

  it('takes its root from MANIFOLD_SYSFS_ROOT in the call environment, else /sys', () => {
    expect(sysfsRoot({ MANIFOLD_SYSFS_ROOT: fake.root })).toBe(fake.root);
    expect(sysfsRoot({})).toBe('/sys');
    expect(sysfsRoot({ MANIFOLD_SYSFS_ROOT: '' })).toBe('/sys');
  });

  it('follows a netdev rename (what the kernel shows after moving it back)', () => {
    fake.setNetdev('0000:01:10.4', 'net1');
    expect(sys.netdevs('0000:01:10.4')).toEqual(['net1']);
    fake.setNetdev('0000:01:10.4', undefined);
    expect(sys.netdevs('0000:01:10.4')).toEqual([]);
    fake.setNetdev('0000:01:10.4', 'enp1s0v2');
  });
});

describe('VF discovery', () => {
  it('finds PF, index and driver of a netdev VF and of a DPDK VF', () => {
    expect(discoverVf(sys, '0000:01:10.0')).toEqual({
      pci: '0000:01:10.0',
      pfPci: PF,
      pf: 'enp1s0',
      vfIndex: 0,
      driver: 'igbvf',
    });
    const dpdk = discoverVf(sys, '0000:01:10.2');
    expect(dpdk).toMatchObject({ pf: 'enp1s0', vfIndex: 1, driver: 'vfio-pci' });
    expect(isDpdkDriver(dpdk.driver)).toBe(true);
    expect(isDpdkDriver('igbvf')).toBe(false);
    expect(isDpdkDriver(undefined)).toBe(false);
    for (const d of ['uio_pci_generic', 'igb_uio']) expect(isDpdkDriver(d)).toBe(true);
  });

  it('says clearly what is missing', () => {
    const none = cniErrorOf(() => discoverVf(sys, '0000:09:00.0'));
    expect(none.message).toBe(
      `failed to find VF "0000:09:00.0": no PCI device "${join(fake.root, 'bus/pci/devices/0000:09:00.0')}"`,
    );
    const notVf = cniErrorOf(() => discoverVf(sys, '0000:03:00.0'));
    expect(notVf.code).toBe(7);
    expect(notVf.message).toBe('deviceID: "0000:03:00.0" is not an SR-IOV virtual function (no physfn link)');
    expect(cniErrorOf(() => discoverVf(sys, '0000:02:10.0')).message).toBe(
      'failed to find the PF of VF "0000:02:10.0": PF "0000:02:00.0" has no network interface in the host netns',
    );
  });

  it('refuses a VF its PF does not list among its virtfn links', () => {
    const f = new FakeSysfs().addPf(PF, 'p0').addVf(PF, 0, '0000:01:10.0');
    rmSync(join(f.dev(PF), 'virtfn0'));
    mkdirSync(join(f.dev(PF), 'virtfn0'));
    expect(cniErrorOf(() => discoverVf(new Sysfs(f.root), '0000:01:10.0')).message).toBe(
      'failed to find VF "0000:01:10.0" among the virtfn links of PF "p0"',
    );
    f.cleanup();
  });

  it('reads the current PF name, falling back to the recorded one', () => {
    expect(currentPf(sys, '0000:01:10.0', 'old')).toBe('enp1s0');
    expect(currentPf(sys, '0000:09:00.0', 'old')).toBe('old');
  });
});
