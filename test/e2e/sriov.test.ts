/**
 * The built executable (dist/bin/sriov, from ./build.sh) under libcni, the library containerd
 * and CRI-O use: the VF's PCI address arrives as the `deviceID` capability (runtimeConfig, as
 * Multus passes the device plugin's choice), MANIFOLD_SYSFS_ROOT reaches the plugin through
 * libcni's environment, and ADD, CHECK (prevResult from libcni's cache), DEL work for spec
 * 0.4.0 and 1.0.0 from .conf and .conflist. A veth end stands in for the VF netdev under a
 * fake sysfs tree; there is no sriov reference plugin on these machines to compare with.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import {
  buildCnitest,
  cniAdd,
  cniCheck,
  cniDel,
  type LibcniOptions,
  writeConfFile,
  writeNetworkFile,
} from '../helpers/libcni.ts';

requireRoot();
const MF_DIR = fileURLToPath(new URL('../../dist/bin/', import.meta.url)).replace(/\/$/, '');
if (!existsSync(join(MF_DIR, 'sriov'))) {
  throw new Error(
    `${MF_DIR}/sriov is missing: run ./build.sh first (the e2e tier tests the built executable)`,
  );
}
isolateHost();

const PF_PCI = '0000:05:00.0';
let work: string;
let fake: FakeSysfs;

beforeAll(async () => {
  await buildCnitest();
  work = mkdtempSync(join(tmpdir(), 'manifold-e2e-sriov-'));
  process.env.MANIFOLD_NATIVE_DIR = join(work, 'native');
  fake = new FakeSysfs(join(work, 'sys'));
  // libcni passes its environment on to the plugin: this is how the fake tree reaches it.
  process.env.MANIFOLD_SYSFS_ROOT = fake.root;
  ip('link', 'add', 'epf0', 'type', 'veth', 'peer', 'name', 'epf0p');
  fake.addPf(PF_PCI, 'epf0');
});
afterAll(() => {
  delete process.env.MANIFOLD_SYSFS_ROOT;
  if (work) rmSync(work, { recursive: true, force: true });
});

interface IpLink {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
}
const hostLink = (name: string) => ipJson<IpLink[]>('link', 'show').find((l) => l.ifname === name);
const podLink = (ns: string, name: string) =>
  ipJson<IpLink[]>('-n', ns, 'link', 'show').find((l) => l.ifname === name);

let vfSeq = 0;
describe.each(['0.4.0', '1.0.0'] as const)('cniVersion %s', (cniVersion) => {
  it.each(['conf', 'conflist'] as const)('ADD, CHECK, DEL from a .%s file', async (form) => {
    const n = vfSeq++;
    const pci = `0000:05:10.${n}`;
    const netdev = `evf${n}`;
    const mac = `02:ee:00:00:00:0${n}`;
    ip('link', 'add', netdev, 'address', mac, 'mtu', '1450', 'type', 'veth', 'peer', 'name', `${netdev}p`);
    fake.addVf(PF_PCI, n, pci, { netdev });
    const name = uniq('sriov-');
    const plugin = {
      type: 'sriov',
      capabilities: { deviceID: true },
      dataDir: join(work, 'sriov'),
      ipam: { type: 'host-local', dataDir: join(work, 'ipam'), ranges: [[{ subnet: `10.62.${n}.0/24` }]] },
    };
    const file = writeNetworkFile(form, { cniVersion, name }, plugin, work);
    const pod = newNetns();
    const opts: LibcniOptions = {
      conf: file,
      netns: pod.path,
      ifname: 'net1',
      containerId: uniq('ctr'),
      cniPath: [MF_DIR],
      cacheDir: join(work, 'libcni'),
      capArgs: { deviceID: pci },
    };
    const added = await cniAdd(opts);
    if (!added.ok) throw new Error(`ADD failed: ${JSON.stringify(added.error)}`);
    // Debian's libcni 1.1.2 decodes results into its own types, which predate the interface
    // `mtu` and `pciID` fields (CNI 1.1.0): they do not survive it, whatever the plugin prints.
    expect(added.result.interfaces).toEqual([{ name: 'net1', mac, sandbox: pod.path }]);
    expect(added.result.ips?.[0]?.address).toBe(`10.62.${n}.2/24`);
    expect(podLink(pod.name, 'net1')?.flags).toContain('UP');
    expect(hostLink(netdev)).toBeUndefined();

    const checked = await cniCheck(opts);
    expect(checked.ok, JSON.stringify(checked)).toBe(true);

    const deleted = await cniDel(opts);
    expect(deleted.ok, JSON.stringify(deleted)).toBe(true);
    expect(hostLink(netdev)).toMatchObject({ address: mac, mtu: 1450 });
    expect(podLink(pod.name, 'net1')).toBeUndefined();
  });
});

describe('spec 1.1.0 through a plain exec (beyond Debian libcni 1.1.2)', () => {
  it('ADD prints pciID and mtu; STATUS; GC restores an attachment no longer listed', async () => {
    const n = vfSeq++;
    const pci = `0000:05:10.${n}`;
    const netdev = `evf${n}`;
    const mac = `02:ee:00:00:00:0${n}`;
    ip('link', 'add', netdev, 'address', mac, 'mtu', '1450', 'type', 'veth', 'peer', 'name', `${netdev}p`);
    fake.addVf(PF_PCI, n, pci, { netdev });
    const conf = {
      cniVersion: '1.1.0',
      name: uniq('sriov-'),
      type: 'sriov',
      dataDir: join(work, 'sriov'),
      runtimeConfig: { deviceID: pci },
    };
    const env = { MANIFOLD_SYSFS_ROOT: fake.root, MANIFOLD_NATIVE_DIR: join(work, 'native') };
    const bin = join(MF_DIR, 'sriov');
    const pod = newNetns();
    const call = { containerId: uniq('ctr'), netns: pod.path, ifname: 'net1', env };
    const added = await execCni(bin, { ...call, command: 'ADD' }, conf);
    expect(added.status, added.stdout).toBe(0);
    expect(added.json?.interfaces).toEqual([{ name: 'net1', mac, mtu: 1450, sandbox: pod.path, pciID: pci }]);
    const status = await execCni(bin, { command: 'STATUS', env }, conf);
    expect(status.status, status.stdout).toBe(0);
    const gc = await execCni(
      bin,
      { command: 'GC', path: [MF_DIR], env },
      {
        ...conf,
        'cni.dev/valid-attachments': [],
      },
    );
    expect(gc.status, gc.stdout).toBe(0);
    expect(hostLink(netdev)).toMatchObject({ address: mac, mtu: 1450 });
    expect(podLink(pod.name, 'net1')).toBeUndefined();
  });
});

describe('refusals through libcni', () => {
  it('a deviceID that is not a VF is error 7 naming the field', async () => {
    fake.addPlain('0000:06:00.0', 'x');
    const name = uniq('sriov-');
    const file = writeConfFile(
      {
        cniVersion: '1.0.0',
        name,
        type: 'sriov',
        capabilities: { deviceID: true },
        dataDir: join(work, 'sriov'),
      },
      work,
    );
    const r = await cniAdd({
      conf: file,
      netns: newNetns().path,
      ifname: 'net1',
      containerId: uniq('ctr'),
      cniPath: [MF_DIR],
      cacheDir: join(work, 'libcni'),
      capArgs: { deviceID: '0000:06:00.0' },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(7);
      expect(r.error.msg).toBe('deviceID: "0000:06:00.0" is not an SR-IOV virtual function (no physfn link)');
    }
  });
});
