/**
 * Devices from Dynamic Resource Allocation (issue 24) on real PCI SR-IOV: the kernel lab's
 * emulated Intel 82576 (igb PF, igbvf VFs),
 * `MANIFOLD_VM_IGB=1 test/kernel-lab/run-in-vm -- vitest run --project vm <this file>`.
 * test/integration/dra.test.ts proves the same flow on veths behind a fake sysfs; this one
 * proves it against the real /sys and real VFs: the stand-in API server runs in the guest and
 * publishes the VFs' real PCI addresses in a ResourceSlice, a pod's claim (from a template) is
 * allocated two of them, and the meta-plugin (in-process) must move exactly those VFs into the
 * pod in the claim's order, write their network data to the claim's status, and on DEL give
 * them back to the host as they were and remove its status entries.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { delNetns, ip, ipJson, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { makePki } from '../helpers/pki.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
if (process.env.MANIFOLD_VM_IGB !== '1') throw new Error('run inside the kernel lab with MANIFOLD_VM_IGB=1');

const work = scratchDir('manifold-vm-dra-');
const kubeconfig = join(work, 'kubeconfig');
const api = new FakeApiServer(makePki());
const DRIVER = 'sriovnetwork.k8snetworkplumbingwg.io';
const POOL = 'node1-igb';
const RESOURCE = 'example.com/igb-vf';
const CLUSTER_MASTER = 'mfdra0';

let PF = '';
const vfs: string[] = []; // VF PCI addresses by VF index

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const netdevOf = (pci: string) => readdirSync(`/sys/bus/pci/devices/${pci}/net`)[0];
const macOf = (name: string, ns?: string) =>
  ipJson<{ address: string }[]>(...(ns ? ['-n', ns] : []), 'link', 'show', 'dev', name)[0]?.address;
const podLinks = (ns: string) => ipJson<{ ifname: string }[]>('-n', ns, 'link', 'show').map((l) => l.ifname);
/** The PCI function behind a pod's interface, from the pod netns's own sysfs (`ip netns exec` mounts it). */
const pciIn = (ns: string, ifname: string) =>
  basename(ip('netns', 'exec', ns, 'readlink', '-f', `/sys/class/net/${ifname}/device`).trim());

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
  // A fresh VF's MAC is registered with the PF only once its driver first comes up.
  for (const p of vfs) {
    ip('link', 'set', netdevOf(p) as string, 'up');
    ip('link', 'set', netdevOf(p) as string, 'down');
  }
  const pfPci = basename(readlinkSync(dev));

  await api.start();
  api.tokens.add('t1');
  writeFileSync(join(work, 'token'), 't1\n');
  api.writeKubeconfig(kubeconfig, { tokenFile: join(work, 'token') });
  // the DRA driver's slice: each VF with the attributes manifold matches on (Multus mode)
  api.addSlice({
    name: 'node1-igb',
    driver: DRIVER,
    pool: POOL,
    nodeName: 'node1',
    devices: vfs.map((pci, i) => ({
      name: `vf-${i}`,
      attributes: {
        'k8s.cni.cncf.io/resourceName': { string: RESOURCE },
        'k8s.cni.cncf.io/deviceID': { string: pci },
        'sriovnetwork.k8snetworkplumbingwg.io/parentPciAddress': { string: pfPci },
      },
    })),
  });
  api.addNad(
    'default',
    'igb-net',
    {
      cniVersion: '1.0.0',
      type: 'sriov',
      dataDir: join(work, 'sriov'),
      ipam: { type: 'host-local', dataDir: join(work, 'ipam'), ranges: [[{ subnet: '10.74.4.0/24' }]] },
    },
    { 'k8s.v1.cni.cncf.io/resourceName': RESOURCE },
  );
  ip('link', 'add', CLUSTER_MASTER, 'type', 'dummy');
  ip('link', 'set', CLUSTER_MASTER, 'up');
});
afterAll(async () => {
  await api.stop();
  try {
    ip('link', 'del', CLUSTER_MASTER);
  } catch {
    // not made
  }
});

const metaConf = {
  cniVersion: '1.0.0',
  name: 'dra-pods',
  type: 'manifold',
  kubeconfig,
  cniDir: join(work, 'cache'),
  podResourcesSocket: join(work, 'no-kubelet.sock'),
  kubeletCheckpointFile: join(work, 'no-checkpoint'),
  deviceInfoDir: join(work, 'devinfo'),
  kubeApiTimeoutSeconds: 60, // the lab emulates the CPU: a fresh call may take seconds
  delegates: [
    {
      cniVersion: '1.0.0',
      name: 'cluster',
      type: 'macvlan',
      master: CLUSTER_MASTER,
      ipam: { type: 'static', addresses: [{ address: '10.74.0.5/24' }] },
    },
  ],
};

describe('DRA on igb VFs', () => {
  it('a pod with a claim from a template and two SR-IOV attachments of one resource gets the two allocated devices', async () => {
    const before = vfs.map((pci) => {
      const name = netdevOf(pci) as string;
      return { pci, name, mac: macOf(name) as string };
    });
    const name = uniq('dra-igb-');
    const claim = `${name}-vfs-q8z4w`;
    api.addPod({
      namespace: 'default',
      name,
      uid: `uid-${name}`,
      annotations: { 'k8s.v1.cni.cncf.io/networks': 'igb-net, igb-net' },
      resourceClaims: [{ name: 'vfs', resourceClaimTemplateName: 'two-igb-vfs' }],
      resourceClaimStatuses: [{ name: 'vfs', resourceClaimName: claim }],
    });
    // allocated in the opposite order of the slice: net1 must be VF 1, net2 VF 0
    api.addClaim({
      namespace: 'default',
      name: claim,
      results: ['vf-1', 'vf-0'].map((device) => ({ request: 'vf', driver: DRIVER, pool: POOL, device })),
    });
    const ns = newNetns('mfdra');
    const cid = uniq('c');
    const env = {
      CNI_CONTAINERID: cid,
      CNI_NETNS: ns.path,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=uid-${name}`,
    };
    const call = (cmd: 'ADD' | 'DEL') =>
      runWith(builtinLoader('manifold'), { ...env, CNI_COMMAND: cmd }, JSON.stringify(metaConf));
    try {
      const r = await call('ADD');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const [vf0, vf1] = before as [(typeof before)[0], (typeof before)[0]];
      // the real VFs, by their PCI functions, in the claim's order; gone from the host
      expect(pciIn(ns.name, 'net1')).toBe(vf1.pci);
      expect(pciIn(ns.name, 'net2')).toBe(vf0.pci);
      expect(macOf('net1', ns.name)).toBe(vf1.mac);
      expect(macOf('net2', ns.name)).toBe(vf0.mac);
      expect(readdirSync('/sys/class/net')).not.toContain(vf1.name);
      expect(readdirSync('/sys/class/net')).not.toContain(vf0.name);

      const result = r.json as {
        ips: { address: string; interface: number }[];
        interfaces: { name: string }[];
      };
      const cidrOf = (ifname: string) =>
        result.ips.filter((x) => result.interfaces[x.interface]?.name === ifname).map((x) => x.address);
      expect(cidrOf('net1')).toEqual([expect.stringMatching(/^10\.74\.4\.\d+\/24$/)]);
      expect(cidrOf('net2')).toEqual([expect.stringMatching(/^10\.74\.4\.\d+\/24$/)]);
      expect(ip('-n', ns.name, '-4', '-o', 'addr', 'show', 'net1')).toContain(cidrOf('net1')[0]);

      // the claim's status: both devices with the pod's interface names, CIDRs and the VFs' MACs
      expect(api.dra.devices('default', claim)).toEqual([
        {
          driver: DRIVER,
          pool: POOL,
          device: 'vf-1',
          conditions: [expect.objectContaining({ type: 'Ready', status: 'True' })],
          networkData: { interfaceName: 'net1', ips: cidrOf('net1'), hardwareAddress: vf1.mac },
        },
        {
          driver: DRIVER,
          pool: POOL,
          device: 'vf-0',
          conditions: [expect.objectContaining({ type: 'Ready', status: 'True' })],
          networkData: { interfaceName: 'net2', ips: cidrOf('net2'), hardwareAddress: vf0.mac },
        },
      ]);
      expect(api.dra.appliedBy('default', claim)).toEqual({
        [`${DRIVER}/${POOL}/vf-1`]: 'manifold',
        [`${DRIVER}/${POOL}/vf-0`]: 'manifold',
      });

      const del = await call('DEL');
      expect(del.code, del.stdout + del.stderr).toBe(0);
      // the VFs back in the host as they were; manifold's status entries gone
      for (const b of before) {
        await waitFor(`VF ${b.pci} back in the host`, () => netdevOf(b.pci));
        expect(netdevOf(b.pci)).toBe(b.name);
        expect(macOf(b.name)).toBe(b.mac);
      }
      expect(podLinks(ns.name)).toEqual(['lo']);
      expect(api.dra.devices('default', claim)).toEqual([]);
      expect(api.dra.appliedBy('default', claim)).toEqual({});
    } finally {
      delNetns(ns.name);
    }
  });
});
