/**
 * sriov on real PCI SR-IOV: the emulated Intel 82576 (igb PF, igbvf VFs) of the kernel lab,
 * `MANIFOLD_VM_IGB=1 test/kernel-lab/run-in-vm -- vitest run --project vm <this file>`.
 * The plugin runs in-process in the guest's initial netns, against the real /sys; the kernel
 * state is read back with iproute2. Proves: ADD/CHECK/DEL with every setting igb accepts
 * applied and reset, each refusal (link state, min_tx_rate, 802.1ad) as a clear error that
 * leaves the VF as it was, DEL after the pod netns vanished, and DPDK mode's PF side.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as klink from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { parentDevice } from '../../src/kernel/vf.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import type { IpVf } from '../helpers/host.ts';
import { delNetns, ip, ipJson, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
if (process.env.MANIFOLD_VM_IGB !== '1') throw new Error('run inside the kernel lab with MANIFOLD_VM_IGB=1');

interface IpLink {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  parentdev?: string;
  operstate: string;
  vfinfo_list?: IpVf[];
}

const work = scratchDir('manifold-vm-sriov-');
let PF = '';
const vfs: string[] = []; // VF PCI addresses by index

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const link = (name: string, ns?: string) =>
  ipJson<IpLink[]>(...(ns ? ['-n', ns] : []), '-d', 'link', 'show', 'dev', name)[0];
const hostLinks = () => ipJson<IpLink[]>('link', 'show').map((l) => l.ifname);
const podLinks = (ns: string) => ipJson<IpLink[]>('-n', ns, 'link', 'show').map((l) => l.ifname);
const vfView = (i: number) => link(PF)?.vfinfo_list?.find((v) => v.vf === i);
const netdevOf = (pci: string) => readdirSync(`/sys/bus/pci/devices/${pci}/net`)[0];

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  PF =
    readdirSync('/sys/class/net').find((n) => {
      try {
        return basename(readlinkSync(`/sys/class/net/${n}/device/driver`)) === 'igb';
      } catch {
        return false;
      }
    }) ?? '';
  if (!PF) throw new Error('no igb PF in this VM (MANIFOLD_VM_IGB=1?)');
  const dev = `/sys/class/net/${PF}/device`;
  ip('link', 'set', PF, 'up');
  if (readFileSync(`${dev}/sriov_numvfs`, 'utf8').trim() === '0') writeFileSync(`${dev}/sriov_numvfs`, '2');
  for (const i of [0, 1]) vfs.push(basename(readlinkSync(`${dev}/virtfn${i}`)));
  await waitFor('the VF netdevs', () => vfs.every((p) => netdevOf(p)));
  // A fresh VF's MAC is unknown to the PF (it reports 00:00:00:00:00:00) until the VF driver
  // first comes up and registers it. Start from used VFs, the state DEL gives back.
  for (const p of vfs) {
    ip('link', 'set', netdevOf(p) as string, 'up');
    ip('link', 'set', netdevOf(p) as string, 'down');
  }
  // max_tx_rate is accepted only while the PF has link (igb checks the link speed).
  await waitFor('PF carrier', () => link(PF)?.operstate === 'UP');
});

function cni(verb: string, conf: object, env: Record<string, string>): Promise<SkelRun> {
  return runWith(builtinLoader('sriov'), { CNI_COMMAND: verb, ...env }, JSON.stringify(conf), 'sriov');
}
function ok(r: SkelRun): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`expected success, got ${r.stdout}`);
  return r.json ?? {};
}

let seq = 0;
function conf(pci: string, extra: Record<string, unknown> = {}) {
  seq++;
  return {
    cniVersion: '1.1.0',
    name: `igb${seq}`,
    type: 'sriov',
    deviceID: pci,
    dataDir: join(work, 'sriov'),
    ipam: { type: 'static', addresses: [{ address: `10.70.${seq}.5/24` }] },
    ...extra,
  };
}
function pod() {
  const p = newNetns();
  const env = { CNI_CONTAINERID: uniq('ctr'), CNI_NETNS: p.path, CNI_IFNAME: 'net1' };
  return { ...p, env };
}

/** What DEL must give back: the VF netdev (name, MAC, MTU) and its PF-side settings. */
function snapshot(i: number) {
  const pci = vfs[i] as string;
  const name = netdevOf(pci) as string;
  const l = link(name) as IpLink;
  return { pci, name, mac: l.address, mtu: l.mtu, pf: vfView(i) };
}
function expectAsBefore(before: ReturnType<typeof snapshot>, i: number): void {
  expect(netdevOf(before.pci)).toBe(before.name);
  const l = link(before.name);
  expect(l?.address).toBe(before.mac);
  expect(l?.mtu).toBe(before.mtu);
  expect(vfView(i)).toEqual(before.pf);
  expect(readdirSync(join(work, 'sriov')).filter((f) => f.endsWith('.json'))).toEqual([]);
}

const SUPPORTED = {
  mac: '02:11:22:33:44:55',
  vlan: 100,
  vlanQoS: 3,
  spoofchk: 'off',
  trust: 'on',
  max_tx_rate: 100,
};

describe('igb VF', () => {
  it('ADD, CHECK, DEL with every setting igb accepts, applied and reset', async () => {
    const before = snapshot(0);
    expect(before.pf).toMatchObject({ address: before.mac, spoofchk: true, trust: false });
    const c = conf(before.pci, SUPPORTED);
    const p = pod();
    const result = ok(await cni('ADD', c, p.env));
    expect(result.interfaces).toEqual([
      { name: 'net1', mac: SUPPORTED.mac, mtu: before.mtu, sandbox: p.path, pciID: before.pci },
    ]);
    expect(vfView(0)).toMatchObject({
      address: SUPPORTED.mac,
      vlan_list: [{ vlan: 100, qos: 3 }],
      rate: { max_tx: 100, min_tx: 0 },
      spoofchk: false,
      trust: true,
    });
    const inPod = link('net1', p.name);
    expect(inPod).toMatchObject({ address: SUPPORTED.mac, parentdev: before.pci });
    expect(inPod?.flags).toContain('UP');
    expect(ip('-n', p.name, '-4', '-o', 'addr', 'show', 'net1')).toContain(`10.70.${seq}.5/24`);
    expect(hostLinks()).not.toContain(before.name);
    // The kernel layer names the PCI function behind a netdev (how CHECK and DEL know the VF).
    const ns = NetNS.open(p.path);
    const podRtnl = Rtnl.open(ns);
    const seen = await klink.byName(podRtnl, 'net1');
    expect(seen && parentDevice(seen)).toBe(before.pci);
    podRtnl.close();
    ns.close();

    const checked = { ...c, prevResult: result };
    ok(await cni('CHECK', checked, p.env));
    ip('link', 'set', PF, 'vf', '0', 'trust', 'off');
    const drift = await cni('CHECK', checked, p.env);
    expect(drift.json?.msg).toBe(`VF 0 of PF "${PF}": trust is off, config says on`);
    ip('link', 'set', PF, 'vf', '0', 'trust', 'on');
    ok(await cni('DEL', c, p.env));
    expectAsBefore(before, 0);
    ok(await cni('DEL', c, p.env));
    delNetns(p.name);
  });

  it.each([
    [
      { mac: '02:11:22:33:44:66', spoofchk: 'off', link_state: 'enable' },
      'link state "enable"',
      'operation not supported',
      'does not support "link_state"',
    ],
    [
      { vlan: 100, mac: '02:11:22:33:44:77', max_tx_rate: 100, min_tx_rate: 10 },
      'min_tx_rate 10 Mbps',
      'invalid argument',
      'refused the minimum rate',
    ],
    [
      { vlan: 100, vlanProto: '802.1ad', trust: 'on' },
      'VLAN 100 qos 0 proto 802.1ad',
      'protocol not supported',
      'use "vlanProto": "802.1q"',
    ],
  ])('refuses %j naming the setting, and leaves the VF as it was', async (extra, what, why, hint) => {
    const before = snapshot(0);
    const p = pod();
    const r = await cni('ADD', conf(before.pci, extra), p.env);
    expect(r.code).toBe(1);
    expect(r.json?.code).toBe(999);
    expect(r.json?.msg).toBe(`failed to set VF 0 ${what} on PF "${PF}": ${why}`);
    expect(String(r.json?.details)).toContain(hint);
    expectAsBefore(before, 0);
    expect(podLinks(p.name)).toEqual(['lo']);
    delNetns(p.name);
  });

  it('DEL after the pod netns was deleted restores name, MAC, MTU and the PF side', async () => {
    const before = snapshot(1);
    // Without trust: igb then refuses the VF's own MAC changes, so the order of DEL matters.
    const c = conf(before.pci, { mac: '02:11:22:33:44:99', vlan: 100, vlanQoS: 3, spoofchk: 'off' });
    const p = pod();
    ok(await cni('ADD', c, p.env));
    expect(link('net1', p.name)?.address).toBe('02:11:22:33:44:99');
    expect(vfView(1)).toMatchObject({ address: '02:11:22:33:44:99', trust: false });
    ip('-n', p.name, 'link', 'set', 'net1', 'mtu', '1400');
    delNetns(p.name); // the kernel hands the VF back to the initial netns, as "net1"
    await waitFor('the VF back in the host', () => netdevOf(before.pci));
    ok(await cni('DEL', c, p.env));
    expectAsBefore(before, 1);
    expect(hostLinks()).not.toContain('net1');
  });

  it('DPDK mode (VF without netdev, vfio-pci per sysfs): PF side on the real PF, IPAM, pciID', async () => {
    // No IOMMU here for a real vfio-pci bind: unbind igbvf, and let a fake sysfs say vfio-pci.
    const before = snapshot(1);
    writeFileSync('/sys/bus/pci/drivers/igbvf/unbind', before.pci);
    const pfPci = basename(readlinkSync(`/sys/class/net/${PF}/device`));
    const fake = new FakeSysfs(join(work, 'sys'))
      .addPf(pfPci, PF)
      .addVf(pfPci, 1, before.pci, { driver: 'vfio-pci' });
    const c = conf(before.pci, { mac: '02:11:22:33:44:88', vlan: 42, trust: 'on' });
    const p = pod();
    const env = { ...p.env, MANIFOLD_SYSFS_ROOT: fake.root };
    const result = ok(await cni('ADD', c, env));
    expect(result.interfaces).toEqual([
      { name: 'net1', mac: '02:11:22:33:44:88', sandbox: p.path, pciID: before.pci },
    ]);
    expect(result.ips).toEqual([{ address: `10.70.${seq}.5/24`, interface: 0 }]);
    expect(vfView(1)).toMatchObject({ address: '02:11:22:33:44:88', vlan_list: [{ vlan: 42 }], trust: true });
    ok(await cni('CHECK', { ...c, prevResult: result }, env));
    ok(await cni('DEL', c, env));
    expect(vfView(1)).toEqual(before.pf);
    writeFileSync('/sys/bus/pci/drivers_probe', before.pci);
    await waitFor('igbvf back on the VF', () => netdevOf(before.pci));
    delNetns(p.name);
  });
});
