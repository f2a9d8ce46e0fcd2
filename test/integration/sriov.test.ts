/**
 * sriov on the host kernel with a fake sysfs PCI tree (MANIFOLD_SYSFS_ROOT): veth ends stand
 * in for VF netdevs, a veth "PF" reports no VFs over netlink. Covers discovery, the netdev
 * path (move, rename, MAC, IPAM, restore), DPDK mode, the VF records, allocation refusal,
 * stale-record take-over, DEL after the pod netns vanished, GC, and every error path that
 * does not need a real PF. PF-side settings on a real driver: test/vm/sriov.igb.test.ts.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { delNetns, ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { addrs, linkIn, ok, reservations } from '../helpers/inproc.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
const host = isolateHost();

const PF_PCI = '0000:01:00.0';
let fake: FakeSysfs;
let work: string;
let ipamDir: string;
let dataDir: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-sriov-'));
  ipamDir = join(work, 'ipam');
  dataDir = join(work, 'sriov');
  fake = new FakeSysfs(join(work, 'sys'));
  ip('link', 'add', 'pf0', 'type', 'veth', 'peer', 'name', 'pf0p');
  fake.addPf(PF_PCI, 'pf0');
  fake.addPf('0000:02:00.0', undefined).addVf('0000:02:00.0', 0, '0000:02:10.0', { netdev: 'x0' });
  fake.addPlain('0000:03:00.0', 'pf0');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Vf {
  readonly index: number;
  readonly pci: string;
  readonly netdev: string;
  readonly mac: string;
}

/** VF number n of pf0: a veth end named `vfN` with a known MAC and MTU 1400, listed in sysfs. */
function vf(n: number): Vf {
  const pci = `0000:01:${(0x10 + (n >> 3)).toString(16)}.${n & 7}`;
  const netdev = `vf${n}`;
  const mac = `02:aa:00:00:00:${n.toString(16).padStart(2, '0')}`;
  ip('link', 'add', netdev, 'address', mac, 'mtu', '1400', 'type', 'veth', 'peer', 'name', `${netdev}p`);
  fake.addVf(PF_PCI, n, pci, { netdev });
  return { index: n, pci, netdev, mac };
}

/** A DPDK VF: bound to vfio-pci, no netdev. */
function dpdkVf(n: number): Vf {
  const pci = `0000:01:${(0x10 + (n >> 3)).toString(16)}.${n & 7}`;
  fake.addVf(PF_PCI, n, pci, { driver: 'vfio-pci' });
  return { index: n, pci, netdev: '', mac: '' };
}

let netSeq = 0;
function net(
  deviceID: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> & { name: string } {
  const n = ++netSeq;
  return {
    cniVersion: '1.1.0',
    name: `sriov${n}`,
    type: 'sriov',
    deviceID,
    dataDir,
    netdevReturnTimeout: 300,
    ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: `10.61.${n}.0/24` }]] },
    ...extra,
  };
}

interface Pod {
  readonly name: string;
  readonly netns: string;
  readonly containerId: string;
  readonly ifname: string;
}

function pod(ifname = 'net1'): Pod {
  const p = newNetns();
  return { name: p.name, netns: p.path, containerId: uniq('ctr'), ifname };
}

type Verb = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

function cni(verb: Verb, conf: object, p: Pick<Pod, 'netns' | 'containerId' | 'ifname'>, args?: string) {
  const env: Record<string, string> = {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: p.containerId,
    CNI_NETNS: p.netns,
    CNI_IFNAME: p.ifname,
    CNI_PATH: '/opt/cni/bin',
    MANIFOLD_SYSFS_ROOT: fake.root,
  };
  if (args) env.CNI_ARGS = args;
  return runWith(builtinLoader('sriov'), env, JSON.stringify(conf), 'sriov');
}

function fails(r: SkelRun): { code: number; msg: string; details?: string } {
  if (r.code === 0) throw new Error(`expected failure, got ${r.stdout}`);
  return r.json as { code: number; msg: string; details?: string };
}

const recordOf = (pci: string) => {
  try {
    return JSON.parse(readFileSync(join(dataDir, `${pci}.json`), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** The kernel hands a physical netdev back to the host when its netns dies; a veth dies with it. */
function returnToHostAsKernel(p: Pod, v: Vf): void {
  ip('-n', p.name, 'link', 'set', p.ifname, 'netns', host.name);
  fake.setNetdev(v.pci, p.ifname);
}

/** The VF's netdev is back in the host exactly as it was. */
function expectRestored(v: Vf): void {
  const l = linkIn(undefined, v.netdev);
  expect(l, `${v.netdev} back in the host`).toBeDefined();
  expect(l?.address).toBe(v.mac);
  expect(l?.mtu).toBe(1400);
  expect(l?.flags).not.toContain('UP');
  expect(recordOf(v.pci)).toBeUndefined();
}

describe('netdev VF', () => {
  it('ADD moves the VF into the pod with MAC, addresses and pciID; CHECK passes; DEL restores it', async () => {
    const v = vf(0);
    const conf = net(v.pci);
    const p = pod();
    const result = ok(await cni('ADD', conf, p));
    expect(result.interfaces).toEqual([
      { name: 'net1', mac: v.mac, mtu: 1400, sandbox: p.netns, pciID: v.pci },
    ]);
    expect(result.ips).toEqual([
      { address: `10.61.${netSeq}.2/24`, gateway: `10.61.${netSeq}.1`, interface: 0 },
    ]);
    expect(linkIn(undefined, v.netdev)).toBeUndefined();
    const inPod = linkIn(p.name, 'net1');
    expect(inPod?.address).toBe(v.mac);
    expect(inPod?.flags).toContain('UP');
    expect(addrs(p.name, 'net1')).toEqual([`10.61.${netSeq}.2/24`]);

    const rec = recordOf(v.pci);
    expect(rec).toMatchObject({
      pciAddress: v.pci,
      pf: 'pf0',
      vfIndex: 0,
      dpdk: false,
      network: conf.name,
      containerId: p.containerId,
      ifname: 'net1',
      netns: p.netns,
      phase: 'attached',
      original: { netdev: { name: v.netdev, mac: v.mac, mtu: 1400, up: false } },
      applied: {},
    });
    expect(statSync(join(dataDir, `${v.pci}.json`)).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);

    const checked = { ...conf, prevResult: result };
    expect((await cni('CHECK', checked, p)).code).toBe(0);
    const wrongMac = {
      ...conf,
      prevResult: { ...result, interfaces: [{ name: 'net1', mac: '0a:00:00:00:00:01', sandbox: p.netns }] },
    };
    expect(fails(await cni('CHECK', wrongMac, p)).msg).toBe(
      `interface "net1" has MAC ${v.mac}, prevResult says 0a:00:00:00:00:01`,
    );
    expect((await cni('STATUS', conf, p)).code).toBe(0);

    ip('-n', p.name, 'link', 'set', 'net1', 'mtu', '1300'); // the pod changed it: DEL puts it back
    ok(await cni('DEL', conf, p));
    expectRestored(v);
    expect(reservations(ipamDir, conf.name)).toEqual([]);
    expect(linkIn(p.name, 'net1')).toBeUndefined();
    ok(await cni('DEL', conf, p)); // repeated DEL is fine
    const noIpam = { ...checked, ipam: undefined };
    expect(fails(await cni('CHECK', noIpam, p)).msg).toBe(
      `no VF is attached for container "${p.containerId}" interface "net1"`,
    );
  });

  it('takes the device from pciBusID; works without IPAM', async () => {
    const v = vf(1);
    const { deviceID: _d, ipam: _i, ...conf } = net(v.pci);
    const p = pod('eth7');
    const result = ok(await cni('ADD', { ...conf, pciBusID: v.pci }, p, 'IgnoreUnknown=1'));
    expect(result.interfaces).toEqual([
      { name: 'eth7', mac: v.mac, mtu: 1400, sandbox: p.netns, pciID: v.pci },
    ]);
    expect(result.ips).toBeUndefined();
    expect(linkIn(p.name, 'eth7')?.flags).toContain('UP');
    ok(await cni('DEL', { ...conf, pciBusID: v.pci }, p));
    expectRestored(v);
  });

  it('refuses a VF allocated to a live netns, then hands it over once that is deleted', async () => {
    const v = vf(2);
    const conf = net(v.pci);
    const a = pod();
    const b = pod();
    ok(await cni('ADD', conf, a));
    const refused = fails(await cni('ADD', conf, b));
    expect(refused.code).toBe(11);
    expect(refused.msg).toBe(
      `failed to allocate VF "${v.pci}": it is allocated to container "${a.containerId}" interface "net1" in netns "${a.netns}"`,
    );
    expect(linkIn(b.name, 'net1')).toBeUndefined();
    ok(await cni('DEL', conf, a));
    ok(await cni('ADD', conf, b));
    expect(linkIn(b.name, 'net1')).toBeDefined();
    ok(await cni('DEL', conf, b));
    expectRestored(v);
  });

  it('two ADDs racing for one VF: one gets it, the other is told to try again later', async () => {
    const v = vf(14);
    const conf = net(v.pci);
    const [a, b] = [pod(), pod()];
    const runs = await Promise.all([cni('ADD', conf, a), cni('ADD', conf, b)]);
    expect(runs.map((r) => r.code).sort()).toEqual([0, 1]);
    const loser = runs.find((r) => r.code !== 0);
    expect(loser?.json?.code).toBe(11);
    const winner = runs[0]?.code === 0 ? a : b;
    expect(linkIn(winner.name, 'net1')).toBeDefined();
    ok(await cni('DEL', conf, winner));
    expectRestored(v);
  });

  it('DEL after the pod netns vanished finds the VF back in the host and restores name, MAC, MTU', async () => {
    const v = vf(3);
    const conf = net(v.pci);
    const p = pod();
    ok(await cni('ADD', conf, p));
    ip('-n', p.name, 'link', 'set', 'net1', 'mtu', '1280', 'address', '0a:58:00:00:00:34');
    returnToHostAsKernel(p, v);
    delNetns(p.name);
    expect(linkIn(undefined, 'net1')).toBeDefined();
    ok(await cni('DEL', conf, p));
    expectRestored(v);
    expect(linkIn(undefined, 'net1')).toBeUndefined();
    expect(reservations(ipamDir, conf.name)).toEqual([]);
  });

  it("DEL after an ADD killed while writing the VF's first record removes its temp file and touches no VF", async () => {
    const v = vf(35);
    const conf = net(v.pci);
    const p = pod();
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const tmp = join(dataDir, `.${v.pci}.0badcafe.tmp`);
    writeFileSync(tmp, '{"version":1,"pciAdd');
    ok(await cni('DEL', conf, p));
    expect(existsSync(tmp)).toBe(false);
    expect(recordOf(v.pci)).toBeUndefined();
    expectRestored(v);
  });

  it('DEL with an empty CNI_NETNS still restores a VF the kernel returned', async () => {
    const v = vf(4);
    const conf = net(v.pci);
    const p = pod();
    ok(await cni('ADD', conf, p));
    returnToHostAsKernel(p, v);
    delNetns(p.name);
    ok(await cni('DEL', conf, { ...p, netns: '' }));
    expectRestored(v);
  });

  it('a VF that never comes back: DEL succeeds and keeps a "released" record; ADD says why it cannot have it', async () => {
    const v = vf(5);
    const conf = net(v.pci);
    const p = pod();
    ok(await cni('ADD', conf, p));
    delNetns(p.name); // the veth stand-in dies with the netns: it never returns
    fake.setNetdev(v.pci, undefined);
    ok(await cni('DEL', conf, p));
    expect(recordOf(v.pci)).toMatchObject({ phase: 'released', containerId: p.containerId });
    expect(reservations(ipamDir, conf.name)).toEqual([]);
    const q = pod();
    const err = fails(await cni('ADD', conf, q));
    expect(err.code).toBe(11);
    expect(err.msg).toBe(
      `failed to allocate VF "${v.pci}": its netdev has not come back to the host netns from container "${p.containerId}" interface "net1"`,
    );
    // It comes back (here: a new stand-in under the pod name, as the kernel would show it).
    ip(
      'link',
      'add',
      'net1',
      'address',
      '0a:00:00:00:00:55',
      'mtu',
      '1500',
      'type',
      'veth',
      'peer',
      'name',
      'vf5p',
    );
    fake.setNetdev(v.pci, 'net1');
    ok(await cni('ADD', conf, q));
    expect(linkIn(q.name, 'net1')).toBeDefined();
    ok(await cni('DEL', conf, q));
    expectRestored(v);
  });

  it('a stale record (pod died without DEL) is restored by the next ADD; the late DEL leaves the VF alone', async () => {
    const v = vf(6);
    const conf = net(v.pci);
    const a = pod();
    ok(await cni('ADD', conf, a));
    ip('-n', a.name, 'link', 'set', 'net1', 'address', '0a:58:00:00:00:66');
    returnToHostAsKernel(a, v);
    delNetns(a.name);
    const b = pod();
    const result = ok(await cni('ADD', conf, b));
    expect(result.interfaces).toEqual([
      { name: 'net1', mac: v.mac, mtu: 1400, sandbox: b.netns, pciID: v.pci },
    ]);
    expect(recordOf(v.pci)).toMatchObject({
      containerId: b.containerId,
      original: { netdev: { name: v.netdev, mac: v.mac, mtu: 1400 } },
    });
    ok(await cni('DEL', conf, a));
    expect(linkIn(b.name, 'net1')).toBeDefined();
    expect(recordOf(v.pci)).toMatchObject({ containerId: b.containerId });
    ok(await cni('DEL', conf, b));
    expectRestored(v);
  });

  it('GC restores the VFs of attachments the runtime no longer lists, only of its own network', async () => {
    const [v1, v2, v3] = [vf(7), vf(8), vf(9)];
    const conf = net(v1.pci);
    const other = net(v3.pci);
    const [p1, p2, p3] = [pod(), pod(), pod()];
    ok(await cni('ADD', conf, p1));
    ok(await cni('ADD', { ...conf, deviceID: v2.pci }, p2));
    ok(await cni('ADD', other, p3));
    const gc = {
      ...conf,
      'cni.dev/valid-attachments': [{ containerID: p1.containerId, ifname: 'net1' }],
    };
    ok(await cni('GC', gc, { netns: '', containerId: '', ifname: '' }));
    expectRestored(v2);
    expect(linkIn(p2.name, 'net1')).toBeUndefined();
    expect(linkIn(p1.name, 'net1')).toBeDefined();
    expect(linkIn(p3.name, 'net1')).toBeDefined();
    expect(reservations(ipamDir, conf.name)).toHaveLength(1);
    ok(await cni('DEL', conf, p1));
    ok(await cni('DEL', other, p3));
    expectRestored(v1);
    expectRestored(v3);
  });

  it('a failed ADD (IPAM exhausted after the move) puts the VF back and leaves no record', async () => {
    const [v1, v2] = [vf(10), vf(11)];
    const n = ++netSeq;
    const ipam = {
      type: 'host-local',
      dataDir: ipamDir,
      ranges: [[{ subnet: `10.61.${n}.0/24`, rangeStart: `10.61.${n}.9`, rangeEnd: `10.61.${n}.9` }]],
    };
    const conf = { ...net(v1.pci), name: `sriovx${n}`, ipam };
    const p1 = pod();
    const p2 = pod();
    ok(await cni('ADD', conf, p1));
    const err = fails(await cni('ADD', { ...conf, deviceID: v2.pci }, p2));
    expect(err.msg).toMatch(/no IP addresses available|exhausted|no free/i);
    expectRestored(v2);
    expect(linkIn(p2.name, 'net1')).toBeUndefined();
    expect(readdirSync(dataDir).filter((f) => f.startsWith('.'))).toEqual([]);
    ok(await cni('DEL', conf, p1));
    expectRestored(v1);
  });

  it('DEL puts the VF back even when IPAM fails, and reports the IPAM error', async () => {
    const v = vf(13);
    const conf = net(v.pci, { ipam: undefined });
    const p = pod();
    ok(await cni('ADD', conf, p));
    const err = fails(await cni('DEL', { ...conf, ipam: { type: 'no-such-ipam' } }, p));
    expect(err.msg).toMatch(/no-such-ipam/);
    expectRestored(v);
  });

  it('refuses an ifname the pod already has, before touching the VF', async () => {
    const v = vf(12);
    const p = pod();
    ip('-n', p.name, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'net1p');
    const err = fails(await cni('ADD', net(v.pci, { ipam: undefined }), p));
    expect(err.msg).toBe(
      `failed to create interface "net1" in netns "${p.netns}": an interface with that name already exists`,
    );
    expectRestored(v);
  });
});

describe('PF-side settings on a PF that reports no VFs over netlink', () => {
  let seq = 20;
  it.each([
    [{ vlan: 100 }, 'VLAN 100 qos 0 proto 802.1q'],
    [{ mac: '0a:58:00:00:00:01' }, 'MAC 0a:58:00:00:00:01'],
    [{ mac: '0a:58:00:00:00:01', runtimeConfig: { mac: '0A:58:00:00:00:02' } }, 'MAC 0a:58:00:00:00:02'],
    [{ spoofchk: 'off' }, 'spoofchk off'],
    [{ trust: 'on' }, 'trust on'],
    [{ link_state: 'enable' }, 'link state "enable"'],
    [{ max_tx_rate: 100 }, 'max_tx_rate 100 Mbps'],
    [{ min_tx_rate: 10 }, 'min_tx_rate 10 Mbps'],
  ])('%j fails naming the setting, and changes nothing', async (extra, what) => {
    const v = vf(seq++);
    const conf = net(v.pci, extra);
    const p = pod();
    const err = fails(await cni('ADD', conf, p));
    expect(err.msg).toBe(
      `failed to set VF ${v.index} ${what} on PF "pf0": the PF reports no VF ${v.index} over netlink (IFLA_VFINFO_LIST)`,
    );
    expectRestored(v);
    expect(reservations(ipamDir, conf.name)).toEqual([]);
  });
});

describe('DPDK VF (vfio-pci, no netdev)', () => {
  it('ADD runs IPAM and returns pciID with no pod interface; CHECK and DEL work', async () => {
    const v = dpdkVf(40);
    const noMac = net(v.pci);
    const conf = noMac;
    const p = pod();
    const result = ok(await cni('ADD', noMac, p));
    expect(result.interfaces).toEqual([{ name: 'net1', sandbox: p.netns, pciID: v.pci }]);
    expect(result.ips).toEqual([
      { address: `10.61.${netSeq}.2/24`, gateway: `10.61.${netSeq}.1`, interface: 0 },
    ]);
    expect(linkIn(p.name, 'net1')).toBeUndefined();
    expect(recordOf(v.pci)).toMatchObject({ dpdk: true, phase: 'attached', original: {} });
    expect((await cni('CHECK', { ...noMac, prevResult: result }, p)).code).toBe(0);
    ok(await cni('DEL', noMac, p));
    expect(recordOf(v.pci)).toBeUndefined();
    expect(reservations(ipamDir, conf.name)).toEqual([]);
  });

  it('with PF-side settings, fails naming the first one', async () => {
    const v = dpdkVf(41);
    const err = fails(await cni('ADD', net(v.pci, { trust: 'on' }), pod()));
    expect(err.msg).toBe(
      'failed to set VF 41 trust on on PF "pf0": the PF reports no VF 41 over netlink (IFLA_VFINFO_LIST)',
    );
    expect(recordOf(v.pci)).toBeUndefined();
  });
});

describe('discovery errors', () => {
  it.each([
    [{}, 7, 'deviceID: is required: the PCI address of the VF (or runtimeConfig.deviceID)'],
    [
      { deviceID: '0000:03:00.0' },
      7,
      'deviceID: "0000:03:00.0" is not an SR-IOV virtual function (no physfn link)',
    ],
    [{ deviceID: '0000:09:00.0' }, 999, 'failed to find VF "0000:09:00.0": no PCI device'],
    [
      { deviceID: '0000:02:10.0' },
      999,
      'failed to find the PF of VF "0000:02:10.0": PF "0000:02:00.0" has no network interface in the host netns',
    ],
    [{ vlan: 5, vlanQoS: 9 }, 7, 'vlanQoS: must have ≤ 7; got 9'],
  ])('%j → error %i', async (extra, code, msg) => {
    const conf = { ...net('0000:01:1f.0'), deviceID: undefined, ...extra };
    const err = fails(await cni('ADD', conf, pod()));
    expect(err.code).toBe(code);
    expect(err.msg.startsWith(msg)).toBe(true);
  });

  it('a VF whose netdev is elsewhere and whose driver is not DPDK is refused', async () => {
    fake.addVf(PF_PCI, 50, '0000:01:16.2', { netdev: 'ghost0' });
    const err = fails(await cni('ADD', net('0000:01:16.2'), pod()));
    expect(err.msg).toBe(
      'failed to attach VF "0000:01:16.2": it has no network interface in the host netns and its driver "igbvf" is not a DPDK driver',
    );
  });

  it('STATUS fails with code 50 when the configured VF cannot be found', async () => {
    const err = fails(await cni('STATUS', net('0000:09:00.0'), { netns: '', containerId: '', ifname: '' }));
    expect(err.code).toBe(50);
  });
});
