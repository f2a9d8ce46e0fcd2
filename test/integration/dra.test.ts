/**
 * Devices from Dynamic Resource Allocation (issue 24) on the real kernel: SR-IOV VFs are veths
 * on a fake sysfs, published in a ResourceSlice of the stand-in API server with
 * `k8s.cni.cncf.io/resourceName` and `k8s.cni.cncf.io/deviceID`, allocated to a pod's claims;
 * the pod's NAD names the resource. Checks the devices each attachment gets, the network data
 * written back to the claim's status.devices by server-side apply (and removed by DEL), the
 * refusals that name the claim, a refused write that does not fail the pod, a pod with both a
 * device-plugin resource and a claim, and the daemon's detached write with its metric.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeWatches } from '../../src/daemon/kube.ts';
import { kubeconfigSource } from '../../src/k8s/kubeconfig.ts';
import { invoker as registryInvoker } from '../../src/registry.ts';
import { runSkel } from '../../src/skel/skel.ts';
import { FakeApiServer, type RbacRule } from '../helpers/fake-apiserver.ts';
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { linkIn, podLinks } from '../helpers/inproc.ts';
import { makePki } from '../helpers/pki.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const work = mkdtempSync(join(tmpdir(), 'mf-it-dra-'));
const dataDir = join(work, 'ipam');
const cniDir = join(work, 'cache');
const devinfo = join(work, 'devinfo');
const tokenFile = join(work, 'token');
const kubeconfig = join(work, 'kubeconfig');
const socket = join(work, 'kubelet.sock');
const api = new FakeApiServer(makePki());
const kubelet = new FakePodResources(socket);
const fake = new FakeSysfs(join(work, 'sys'));
const PF = '0000:02:00.0';
const DRIVER = 'sriovnetwork.k8snetworkplumbingwg.io';
const POOL = 'node1-pf0';
const RESOURCE = 'example.com/dra-vf';
const VFS = [0, 1, 2, 3].map((n) => ({
  pci: `0000:02:10.${n}`,
  netdev: `dvf${n}`,
  mac: `02:dd:00:00:00:0${n}`,
  device: `vf-${n}`,
}));

const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet }]] });
const sriovConf = (subnet: string) => ({
  cniVersion: '1.0.0',
  type: 'sriov',
  dataDir: join(work, 'sriov'),
  netdevReturnTimeout: 300,
  ipam: hostLocal(subnet),
});

beforeAll(async () => {
  await api.start();
  api.tokens.add('t1');
  writeFileSync(tokenFile, 't1\n');
  api.writeKubeconfig(kubeconfig, { tokenFile });
  await kubelet.start();
  for (const m of ['drm0', 'dpf0']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
  fake.addPf(PF, 'dpf0');
  for (const [i, v] of VFS.entries()) {
    ip('link', 'add', v.netdev, 'address', v.mac, 'type', 'veth', 'peer', 'name', `${v.netdev}p`);
    fake.addVf(PF, i, v.pci, { netdev: v.netdev });
  }
  // the driver publishes vf-0 … vf-2 for networks (Multus mode: both attributes), vf-3 as an
  // accelerator nobody's NAD names
  api.addSlice({
    name: 'node1-sriov',
    driver: DRIVER,
    pool: POOL,
    nodeName: 'node1',
    devices: VFS.map((v, i) => ({
      name: v.device,
      attributes:
        i < 3
          ? {
              'k8s.cni.cncf.io/resourceName': { string: RESOURCE },
              'k8s.cni.cncf.io/deviceID': { string: v.pci },
              'sriovnetwork.k8snetworkplumbingwg.io/parentPciAddress': { string: PF },
            }
          : {
              'k8s.cni.cncf.io/resourceName': { string: 'example.com/other' },
              'resource.kubernetes.io/pciBusID': { string: v.pci },
            },
    })),
  });
  // another node's slice: not read
  api.addSlice({
    name: 'node2-sriov',
    driver: DRIVER,
    pool: 'node2-pf0',
    nodeName: 'node2',
    devices: [{ name: 'vf-0', attributes: { 'k8s.cni.cncf.io/resourceName': { string: RESOURCE } } }],
  });
  api.addNad('default', 'dra-net', sriovConf('10.73.4.0/24'), {
    'k8s.v1.cni.cncf.io/resourceName': RESOURCE,
  });
  api.addNad('default', 'other-net', sriovConf('10.73.5.0/24'), {
    'k8s.v1.cni.cncf.io/resourceName': 'example.com/nowhere',
  });
  api.addNad('default', 'dp-net', sriovConf('10.73.6.0/24'), {
    'k8s.v1.cni.cncf.io/resourceName': 'intel.com/dp-vf',
  });
});
afterAll(async () => {
  await api.stop();
  await kubelet.stop();
  rmSync(work, { recursive: true, force: true });
});

function metaConf(extra: object = {}) {
  return {
    cniVersion: '1.0.0',
    name: 'dra-pods',
    type: 'manifold',
    kubeconfig,
    cniDir,
    podResourcesSocket: socket,
    kubeletCheckpointFile: join(work, 'no-checkpoint'),
    deviceInfoDir: devinfo,
    kubeApiTimeoutSeconds: 1.5,
    logToStderr: true,
    logLevel: 'info',
    delegates: [
      {
        cniVersion: '1.0.0',
        name: 'cluster',
        type: 'macvlan',
        master: 'drm0',
        ipam: hostLocal('10.73.0.0/24'),
      },
    ],
    ...extra,
  };
}

interface PodCall {
  readonly name: string;
  readonly claim: string;
  readonly ns: { name: string; path: string };
  readonly cid: string;
  readonly env: Record<string, string>;
  call(cmd: 'ADD' | 'DEL', conf?: object): ReturnType<typeof runWith>;
}

const made: PodCall[] = [];
afterEach(async () => {
  for (const p of made.splice(0)) await p.call('DEL');
});

/**
 * A pod asking for `networks`, with one claim made from a template (its generated name in
 * status.resourceClaimStatuses) allocated `devices` (undefined: not allocated).
 */
function pod(networks: string, devices: readonly string[] | undefined): PodCall {
  const name = uniq('dra-');
  const claim = `${name}-vfs-x7k2p`;
  api.addPod({
    namespace: 'default',
    name,
    uid: `uid-${name}`,
    annotations: { 'k8s.v1.cni.cncf.io/networks': networks },
    resourceClaims: [{ name: 'vfs', resourceClaimTemplateName: 'two-vfs' }],
    resourceClaimStatuses: [{ name: 'vfs', resourceClaimName: claim }],
  });
  api.addClaim({
    namespace: 'default',
    name: claim,
    ...(devices
      ? { results: devices.map((device) => ({ request: 'vf', driver: DRIVER, pool: POOL, device })) }
      : {}),
  });
  const ns = newNetns();
  const cid = uniq('c');
  const env = {
    CNI_CONTAINERID: cid,
    CNI_NETNS: ns.path,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=uid-${name}`,
    MANIFOLD_SYSFS_ROOT: fake.root,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
  const p: PodCall = {
    name,
    claim,
    ns,
    cid,
    env,
    call: (cmd, conf = metaConf()) =>
      runWith(builtinLoader('manifold'), { ...env, CNI_COMMAND: cmd }, JSON.stringify(conf)),
  };
  made.push(p);
  return p;
}

const claimDevices = (p: PodCall) => api.dra.devices('default', p.claim);
const networkStatus = (p: PodCall) =>
  JSON.parse(api.annotation('default', p.name, 'k8s.v1.cni.cncf.io/network-status') ?? '[]') as Record<
    string,
    unknown
  >[];

function expectNothingLeft(p: PodCall): void {
  expect(podLinks(p.ns.name)).toEqual([]);
  const caches = existsSync(cniDir) ? readdirSync(cniDir).filter((f) => f.includes(`-${p.cid}-`)) : [];
  expect(caches).toEqual([]);
}

const rbacRole = (): RbacRule[] => {
  const docs = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../deploy/rbac.yaml'), 'utf8'));
  return docs.map((d) => d.toJS()).find((d) => d?.kind === 'ClusterRole').rules;
};

describe('devices from DRA claims', () => {
  it("a template's claim with two VFs: each attachment gets one in allocation order; network data on the claim; DEL removes it", async () => {
    const p = pod('dra-net, dra-net', ['vf-1', 'vf-0']);
    // a driver's own entry for another device of the claim stays whatever manifold applies
    api.addClaim({
      namespace: 'default',
      name: p.claim,
      results: ['vf-1', 'vf-0', 'vf-3'].map((device) => ({
        request: 'vf',
        driver: DRIVER,
        pool: POOL,
        device,
      })),
    });
    const driverEntry = {
      driver: DRIVER,
      pool: POOL,
      device: 'vf-3',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Prepared',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
    };
    expect(api.dra.applyAs('default', p.claim, 'sriov-driver', [driverEntry]).code).toBe(200);
    const r = await p.call('ADD');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[1]?.mac);
    expect(linkIn(p.ns.name, 'net2')?.address).toBe(VFS[0]?.mac);
    const result = r.json as {
      ips: { address: string; interface: number }[];
      interfaces: { name: string }[];
    };
    const cidrOf = (ifname: string) =>
      result.ips.filter((x) => result.interfaces[x.interface]?.name === ifname).map((x) => x.address);
    expect(cidrOf('net1')[0]).toMatch(/^10\.73\.4\.\d+\/24$/);
    const entries = claimDevices(p);
    expect(entries.map((e) => e.device)).toEqual(['vf-3', 'vf-1', 'vf-0']);
    expect(entries.slice(1)).toEqual([
      {
        driver: DRIVER,
        pool: POOL,
        device: 'vf-1',
        conditions: [expect.objectContaining({ type: 'Ready', status: 'True' })],
        networkData: { interfaceName: 'net1', ips: cidrOf('net1'), hardwareAddress: VFS[1]?.mac },
      },
      {
        driver: DRIVER,
        pool: POOL,
        device: 'vf-0',
        conditions: [expect.objectContaining({ type: 'Ready', status: 'True' })],
        networkData: { interfaceName: 'net2', ips: cidrOf('net2'), hardwareAddress: VFS[0]?.mac },
      },
    ]);
    expect(api.dra.appliedBy('default', p.claim)).toEqual({
      [`${DRIVER}/${POOL}/vf-3`]: 'sriov-driver',
      [`${DRIVER}/${POOL}/vf-1`]: 'manifold',
      [`${DRIVER}/${POOL}/vf-0`]: 'manifold',
    });
    // device-info as for a device plugin's device: the file the delegate gets, and network-status
    const copy = join(devinfo, 'cni', `default-dra-net-${p.cid}_net1`);
    expect(JSON.parse(readFileSync(copy, 'utf8'))).toEqual({
      type: 'pci',
      version: '1.1.0',
      pci: { 'pci-address': VFS[1]?.pci, 'pf-pci-address': PF },
    });
    expect(
      networkStatus(p)
        .slice(1)
        .map((s) => [s.interface, (s['device-info'] as { pci: Record<string, string> }).pci['pci-address']]),
    ).toEqual([
      ['net1', VFS[1]?.pci],
      ['net2', VFS[0]?.pci],
    ]);
    // no pod-resources call: the claims had the devices
    expect(kubelet.calls).toEqual([]);
    const del = await p.call('DEL');
    expect(del.code, del.stdout).toBe(0);
    expect(claimDevices(p)).toEqual([driverEntry]);
    expect(existsSync(copy)).toBe(false);
    expect(linkIn(undefined, VFS[1]?.netdev ?? '')?.address).toBe(VFS[1]?.mac);
    expectNothingLeft(p);
  });

  it('a claim not allocated is code 11 naming it; devices that match no NAD are code 7 naming the claim; nothing attached', async () => {
    const p = pod('dra-net', undefined);
    const r = await p.call('ADD');
    expect(r.json).toMatchObject({ code: 11 });
    expect(String(r.json?.msg)).toContain(`ResourceClaim default/${p.claim} is not allocated`);
    expectNothingLeft(p);

    const q = pod('other-net', ['vf-2']);
    const s = await q.call('ADD');
    expect(s.json).toMatchObject({ code: 7 });
    expect(String(s.json?.msg)).toMatch(
      new RegExp(
        `network "default/other-net" needs a device of resource "example.com/nowhere": no device of pod default/${q.name}'s claims \\(default/${q.claim}\\) carries k8s.cni.cncf.io/resourceName="example.com/nowhere"`,
      ),
    );
    expectNothingLeft(q);
    expect(claimDevices(q)).toEqual([]);
  });

  it('more attachments than claimed devices: code 7 naming the claim', async () => {
    const p = pod('dra-net, dra-net', ['vf-2']);
    const r = await p.call('ADD');
    expect(r.json).toMatchObject({ code: 7 });
    expect(String(r.json?.msg)).toContain(
      `claims (default/${p.claim}) have 1 allocated and earlier attachments use it`,
    );
    expectNothingLeft(p);
  });

  it('a device-plugin resource and a claim in one pod: each from its own source', async () => {
    const p = pod('dra-net, dp-net', ['vf-2']);
    kubelet.pods = [
      { namespace: 'default', name: p.name, containers: { app: { 'intel.com/dp-vf': [VFS[3]?.pci ?? ''] } } },
    ];
    try {
      const r = await p.call('ADD');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[2]?.mac);
      expect(linkIn(p.ns.name, 'net2')?.address).toBe(VFS[3]?.mac);
      expect(
        claimDevices(p).map((e) => [e.device, (e.networkData as { interfaceName: string }).interfaceName]),
      ).toEqual([['vf-2', 'net1']]);
      expect(kubelet.calls.at(-1)).toBe('/v1.PodResourcesLister/Get');
    } finally {
      kubelet.pods = [];
    }
  });
});

describe('what the runtime passes', () => {
  it("with the pod's annotations from the runtime, the pod is read once for its claims, only for a NAD with a resource", async () => {
    const p = pod('dra-net', ['vf-2']);
    const conf = metaConf({
      runtimeConfig: {
        'io.kubernetes.cri.pod-annotations': { 'k8s.v1.cni.cncf.io/networks': 'dra-net' },
      },
    });
    const before = api.log.length;
    const r = await p.call('ADD', conf);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[2]?.mac);
    const calls = api.log.slice(before).map((l) => `${l.method} ${l.path.split('?')[0]}`);
    expect(calls.filter((c) => c === `GET /api/v1/namespaces/default/pods/${p.name}`)).toHaveLength(1);
    expect(calls).toContain(`GET /apis/resource.k8s.io/v1/namespaces/default/resourceclaims/${p.claim}`);
    expect(calls).toContain('GET /apis/resource.k8s.io/v1/resourceslices');
    expect(claimDevices(p)).toHaveLength(1);
    expect((await p.call('DEL', conf)).code).toBe(0);
    expect(claimDevices(p)).toEqual([]);
  });
});

describe('RBAC', () => {
  it("deploy/rbac.yaml's ClusterRole is all DRA needs: reads, the status write, its removal; no 403", async () => {
    api.rbac = rbacRole();
    try {
      const before = api.log.length;
      const p = pod('dra-net', ['vf-0']);
      const r = await p.call('ADD');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(claimDevices(p)).toHaveLength(1);
      expect((await p.call('DEL')).code).toBe(0);
      expect(claimDevices(p)).toEqual([]);
      expect(api.log.slice(before).filter((l) => l.status === 403)).toEqual([]);
      const calls = api.log.slice(before).map((l) => `${l.method} ${l.path.split('?')[0]}`);
      expect(calls).toContain(
        `PATCH /apis/resource.k8s.io/v1/namespaces/default/resourceclaims/${p.claim}/status`,
      );
    } finally {
      api.rbac = undefined;
    }
  });

  it('without resourceclaims/driver the write is refused (403): the pod still starts, the log says why', async () => {
    api.rbac = rbacRole().filter((r) => !r.resources.includes('resourceclaims/driver'));
    try {
      const p = pod('dra-net', ['vf-0']);
      const r = await p.call('ADD');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[0]?.mac);
      expect(claimDevices(p)).toEqual([]);
      expect(r.stderr).toMatch(
        new RegExp(
          `ResourceClaim default/${p.claim}: its status.devices network data could not be written: the API server refused it \\(403 Forbidden: .*resourceclaims/driver.*\\): manifold's RBAC needs`,
        ),
      );
      const del = await p.call('DEL');
      expect(del.code).toBe(0);
      expectNothingLeft(p);
    } finally {
      api.rbac = undefined;
    }
  });
});

describe('in the daemon', () => {
  it('the write goes after the call, on the kept-alive connection; a refused one is counted by the metric', async () => {
    const kube = new KubeWatches({
      credentials: { source: kubeconfigSource(kubeconfig), from: 'test kubeconfig' },
      nodeName: 'node1',
      log: () => {},
    });
    // the pod (with its claims), the NADs and (once a call asks) the node's ResourceSlices from
    // the watches; the claims read through the kept-alive connection, the writes too
    kube.start();
    await Promise.all([kube.pods.whenSynced(), kube.nads.whenSynced()]);
    const host = { kube };
    const run = async (p: PodCall, cmd: 'ADD' | 'DEL') => {
      let stdout = '';
      const code = await runSkel(
        {
          name: 'manifold',
          version: '0.0.0-test',
          load: builtinLoader('manifold'),
          invoker: registryInvoker(),
          host,
        },
        {
          env: { ...p.env, CNI_COMMAND: cmd },
          readStdin: async () => Buffer.from(JSON.stringify(metaConf({ kubeconfig: undefined }))),
          stdout: (s) => {
            stdout += s;
          },
          stderr: () => {},
        },
      );
      return { code, stdout };
    };
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        if (ok()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`never: ${what}`);
    };
    const metric = (result: string) =>
      kube.metricLines().find((l) => l.startsWith(`manifold_dra_status_writes_total{result="${result}"}`));
    try {
      const p = pod('dra-net', ['vf-1']);
      made.pop();
      await until('the watch has the pod', () => kube.pod('default', p.name, `uid-${p.name}`) !== undefined);
      const before = api.log.length;
      const r = await run(p, 'ADD');
      expect(r.code, r.stdout).toBe(0);
      // the first pod with claims started the slice watch (and listed them itself meanwhile)
      expect(kube.slices).toBeDefined();
      expect(
        api.log.slice(before).some((l) => l.path.startsWith('/apis/resource.k8s.io/v1/resourceslices?')),
      ).toBe(true);
      await kube.slices?.whenSynced();
      // the claims came from the watched pod: no pod GET
      expect(
        api.log.slice(before).filter((l) => l.path.includes(`/pods/${p.name}`) && l.method === 'GET'),
      ).toEqual([]);
      expect(metric('written')).toBe('manifold_dra_status_writes_total{result="written"} 1');
      expect((await run(p, 'DEL')).code).toBe(0);
      await until("manifold's entry removed", () => claimDevices(p).length === 0);

      api.rbac = rbacRole().filter((x) => !x.resources.includes('resourceclaims/driver'));
      const q = pod('dra-net', ['vf-1']);
      made.pop();
      await until('the watch has the pod', () => kube.pod('default', q.name, `uid-${q.name}`) !== undefined);
      const beforeQ = api.log.length;
      const s = await run(q, 'ADD');
      // this one read the slices from the watch: no list of its own (the watch's own requests carry watch=)
      const lists = api.log
        .slice(beforeQ)
        .filter(
          (l) => l.path.startsWith('/apis/resource.k8s.io/v1/resourceslices?') && !l.path.includes('watch='),
        );
      expect(lists).toEqual([]);
      expect(kube.metricLines()).toContain('manifold_kube_watch_synced{resource="resourceslices"} 1');
      expect(s.code, s.stdout).toBe(0);
      await until('the refusal counted', () => metric('forbidden') !== undefined);
      expect(metric('forbidden')).toBe('manifold_dra_status_writes_total{result="forbidden"} 1');
      expect(claimDevices(q)).toEqual([]);
      expect((await run(q, 'DEL')).code).toBe(0);
      // manifold owned no entry of that claim: its DEL's empty apply changes nothing, needs no driver grant
      await until('the DEL write counted', () => metric('written')?.endsWith(' 3') === true);
      expectNothingLeft(q);
    } finally {
      api.rbac = undefined;
      await kube.stop();
    }
  });
});

mkdirSync(devinfo, { recursive: true });
