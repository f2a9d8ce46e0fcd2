/**
 * The meta-plugin for Kubernetes pods on the real kernel: a local HTTPS stand-in of the API
 * server (TLS from openssl, a real kubeconfig with a token file) holds the pods and their
 * NetworkAttachmentDefinitions; a local gRPC server plays kubelet's pod-resources API; SR-IOV
 * VFs are veths on a fake sysfs. Each pod is described only by its annotations.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { addrs, linkIn, podLinks } from '../helpers/inproc.ts';
import { makePki } from '../helpers/pki.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const work = mkdtempSync(join(tmpdir(), 'mf-it-k8s-'));
const dataDir = join(work, 'ipam');
const cniDir = join(work, 'cache');
const devinfo = join(work, 'devinfo');
const tokenFile = join(work, 'token');
const kubeconfig = join(work, 'kubeconfig');
const socket = join(work, 'kubelet.sock');
const checkpoint = join(work, 'kubelet_internal_checkpoint');
const api = new FakeApiServer(makePki());
const kubelet = new FakePodResources(socket);
const fake = new FakeSysfs(join(work, 'sys'));
const PF = '0000:01:00.0';
const VFS = [0, 1, 2].map((n) => ({
  pci: `0000:01:10.${n}`,
  netdev: `kvf${n}`,
  mac: `02:bb:00:00:00:0${n}`,
}));

const hostLocal = (subnet: string, routes: object[] = []) => ({
  type: 'host-local',
  dataDir,
  ranges: [[{ subnet }]],
  routes,
});

beforeAll(async () => {
  await api.start();
  api.tokens.add('t1');
  writeFileSync(tokenFile, 't1\n');
  api.writeKubeconfig(kubeconfig, { tokenFile });
  await kubelet.start();
  for (const m of ['k8m0', 'k8m1', 'pf0']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
  fake.addPf(PF, 'pf0');
  for (const [i, v] of VFS.entries()) {
    ip('link', 'add', v.netdev, 'address', v.mac, 'type', 'veth', 'peer', 'name', `${v.netdev}p`);
    fake.addVf(PF, i, v.pci, { netdev: v.netdev });
  }
  const nad = (ns: string, name: string, config: object | undefined, annotations?: Record<string, string>) =>
    api.addNad(ns, name, config, annotations);
  // no "name" in the configs: filled from the NAD
  nad('default', 'mv-a', {
    cniVersion: '1.0.0',
    type: 'macvlan',
    master: 'k8m1',
    capabilities: { ips: true, mac: true },
    ipam: hostLocal('10.70.1.0/24'),
  });
  nad('default', 'mv-b', { cniVersion: '1.0.0', type: 'macvlan', master: 'k8m1', ipam: { type: 'static' } });
  nad('other', 'foreign', {
    cniVersion: '1.0.0',
    type: 'macvlan',
    master: 'k8m1',
    ipam: hostLocal('10.70.5.0/24'),
  });
  nad('default', 'gw-net', {
    cniVersion: '1.0.0',
    type: 'macvlan',
    master: 'k8m1',
    ipam: hostLocal('10.70.6.0/24', [{ dst: '192.0.2.0/24' }]),
  });
  nad('kube-system', 'cluster-alt', {
    cniVersion: '1.0.0',
    type: 'macvlan',
    master: 'k8m0',
    ipam: hostLocal('10.70.9.0/24', [{ dst: '0.0.0.0/0' }]),
  });
  nad(
    'default',
    'sriov-net',
    {
      cniVersion: '1.0.0',
      type: 'sriov',
      dataDir: join(work, 'sriov'),
      netdevReturnTimeout: 300,
      ipam: hostLocal('10.70.4.0/24'),
    },
    { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov' },
  );
});
afterAll(async () => {
  await api.stop();
  await kubelet.stop();
  rmSync(work, { recursive: true, force: true });
});

function metaConf(extra: object = {}) {
  return {
    cniVersion: '1.0.0',
    name: 'k8s-pods',
    type: 'manifold',
    kubeconfig,
    cniDir,
    podResourcesSocket: socket,
    kubeletCheckpointFile: checkpoint,
    deviceInfoDir: devinfo,
    kubeApiTimeoutSeconds: 1.5,
    delegates: [
      {
        cniVersion: '1.0.0',
        name: 'cluster',
        type: 'macvlan',
        master: 'k8m0',
        ipam: hostLocal('10.70.0.0/24', [{ dst: '0.0.0.0/0' }]),
      },
    ],
    ...extra,
  };
}

interface PodCall {
  readonly name: string;
  readonly ns: { name: string; path: string };
  readonly cid: string;
  call(cmd: 'ADD' | 'DEL' | 'CHECK', conf?: object, prev?: object): ReturnType<typeof runWith>;
}

const made: PodCall[] = [];
afterEach(async () => {
  // a failed test must not leave attachments for the next one
  for (const p of made.splice(0)) await p.call('DEL');
});

function pod(
  annotations: Record<string, string>,
  opts: { namespace?: string; register?: boolean } = {},
): PodCall {
  const namespace = opts.namespace ?? 'default';
  const name = uniq('pod-');
  const uid = `uid-${name}`;
  if (opts.register !== false) api.addPod({ namespace, name, uid, annotations });
  const ns = newNetns();
  const cid = uniq('c');
  const env = {
    CNI_CONTAINERID: cid,
    CNI_NETNS: ns.path,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=${uid}`,
    MANIFOLD_SYSFS_ROOT: fake.root,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
  const p: PodCall = {
    name,
    ns,
    cid,
    call: (cmd, conf = metaConf(), prev) =>
      runWith(
        builtinLoader('manifold'),
        { ...env, CNI_COMMAND: cmd },
        JSON.stringify(prev ? { ...conf, prevResult: prev } : conf),
      ),
  };
  made.push(p);
  return p;
}

/** host-local reservations (of one container when given). */
function reservations(cid?: string): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).flatMap((n) =>
    readdirSync(join(dataDir, n))
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .filter((f) => cid === undefined || readFileSync(join(dataDir, n, f), 'utf8').startsWith(`${cid}\r\n`))
      .map((f) => `${n}/${f}`),
  );
}

const status = (p: PodCall) => {
  const v = api.annotation('default', p.name, 'k8s.v1.cni.cncf.io/network-status');
  return v === undefined ? undefined : (JSON.parse(v) as Record<string, unknown>[]);
};

function expectNothingLeft(p: PodCall): void {
  expect(podLinks(p.ns.name)).toEqual([]);
  expect(reservations(p.cid)).toEqual([]);
  // no cache file of the container is left (`<network>-<containerID>-<ifname>`)
  const caches = existsSync(cniDir) ? readdirSync(cniDir).filter((f) => f.includes(`-${p.cid}-`)) : [];
  expect(caches).toEqual([]);
}

describe('pods described by their annotations', () => {
  it('gets every requested interface with its ifname, ips and mac; network-status; DEL removes all', async () => {
    const p = pod({
      'k8s.v1.cni.cncf.io/networks': JSON.stringify([
        { name: 'mv-a', interface: 'data0', ips: ['10.70.1.50'], mac: '0a:58:00:00:01:50' },
        {
          name: 'mv-b',
          namespace: 'default',
          interface: 'data1',
          ips: ['10.70.2.7/24'],
          mac: '0a:58:00:00:02:07',
        },
        { name: 'mv-b', 'cni-args': { ips: ['10.70.3.9/24'] } },
      ]),
    });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(podLinks(p.ns.name).sort()).toEqual(['data0', 'data1', 'eth0', 'net3']);
    // mv-a: the ips and mac capabilities (runtimeConfig); mv-b: CNI_ARGS IP=/MAC=; the third: cni-args → args.cni.ips
    expect(addrs(p.ns.name, 'data0')).toEqual(['10.70.1.50/24']);
    expect(linkIn(p.ns.name, 'data0')?.address).toBe('0a:58:00:00:01:50');
    expect(addrs(p.ns.name, 'data1')).toEqual(['10.70.2.7/24']);
    expect(linkIn(p.ns.name, 'data1')?.address).toBe('0a:58:00:00:02:07');
    expect(addrs(p.ns.name, 'net3')).toEqual(['10.70.3.9/24']);
    const res = r.json as { interfaces: { name: string }[]; ips: { address: string }[] };
    expect(res.interfaces.map((i) => i.name)).toEqual(['eth0', 'data0', 'data1', 'net3']);

    const eth0 = linkIn(p.ns.name, 'eth0');
    expect(status(p)).toEqual([
      {
        name: 'cluster',
        interface: 'eth0',
        ips: [addrs(p.ns.name, 'eth0')[0]?.split('/')[0]],
        mac: eth0?.address,
        mtu: 1500,
        default: true,
        dns: {},
        gateway: ['10.70.0.1'],
      },
      {
        name: 'default/mv-a',
        interface: 'data0',
        ips: ['10.70.1.50'],
        mac: '0a:58:00:00:01:50',
        mtu: 1500,
        dns: {},
      },
      {
        name: 'default/mv-b',
        interface: 'data1',
        ips: ['10.70.2.7'],
        mac: '0a:58:00:00:02:07',
        mtu: 1500,
        dns: {},
      },
      {
        name: 'default/mv-b',
        interface: 'net3',
        ips: ['10.70.3.9'],
        mac: linkIn(p.ns.name, 'net3')?.address,
        mtu: 1500,
        dns: {},
      },
    ]);
    // written as Multus writes it: a list of 4-space-indented objects
    expect(api.annotation('default', p.name, 'k8s.v1.cni.cncf.io/network-status')).toMatch(
      /^\[\{\n {4}"name": "cluster",\n/,
    );

    expect((await p.call('CHECK', metaConf(), r.json)).code).toBe(0);
    const del = await p.call('DEL');
    expect(del.code, del.stdout).toBe(0);
    expectNothingLeft(p);
  });

  it('reads the comma form; interface names from the annotation or net<i>', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a@x0, default/mv-a' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(podLinks(p.ns.name).sort()).toEqual(['eth0', 'net2', 'x0']);
    expect((await p.call('DEL')).code).toBe(0);
    expectNothingLeft(p);
  });

  it('v1.multus-cni.io/default-network replaces the master', async () => {
    const p = pod({ 'v1.multus-cni.io/default-network': 'cluster-alt' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(addrs(p.ns.name, 'eth0')[0]).toMatch(/^10\.70\.9\./);
    expect(status(p)?.[0]).toMatchObject({
      name: 'kube-system/cluster-alt',
      interface: 'eth0',
      default: true,
    });
    expect((await p.call('DEL')).code).toBe(0);
    expectNothingLeft(p);
  });

  it("takes an attachment's multi-homing options from the annotation's manifold object", async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': '[{"name":"mv-a","manifold":{"policyRouting":true}}]' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    const rules = () =>
      ipJson<{ priority: number; src?: string; table?: string }[]>(
        '-n',
        p.ns.name,
        '-4',
        'rule',
        'show',
      ).filter((x) => x.priority === 30000);
    const net1 = addrs(p.ns.name, 'net1')[0]?.split('/')[0];
    expect(net1).toMatch(/^10\.70\.1\./);
    expect(rules().map((x) => x.src)).toEqual([net1]);
    expect((await p.call('DEL')).code).toBe(0);
    expect(rules()).toEqual([]);
    expectNothingLeft(p);
  });

  it('default-route via a gateway other than the IPAM one: that route, in the result and the kernel', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': '[{"name":"gw-net","default-route":["10.70.6.254"]}]' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    const routes = (r.json as { routes: { dst: string; gw?: string }[] }).routes;
    expect(routes.filter((rt) => rt.dst === '0.0.0.0/0')).toEqual([{ dst: '0.0.0.0/0', gw: '10.70.6.254' }]);
    const kernel = ipJson<{ dev: string; gateway?: string }[]>(
      '-n',
      p.ns.name,
      '-4',
      'route',
      'show',
      'default',
    );
    expect(kernel.map((k) => [k.dev, k.gateway])).toEqual([['net1', '10.70.6.254']]);
    expect((await p.call('CHECK', metaConf(), r.json)).code).toBe(0);
    expect((await p.call('DEL')).code).toBe(0);
    expectNothingLeft(p);
  });

  it('default-route: the chosen attachment owns the default route; two IPv4 gateways are refused', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': '[{"name":"gw-net","default-route":["10.70.6.1"]}]' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    // the pod's one IPv4 default route is the one the annotation asked for: in the result, and in
    // the kernel (the master's is gone; the multi-homing code installs the chosen one)
    const routes = (r.json as { routes: { dst: string; gw?: string }[] }).routes;
    expect(routes.filter((rt) => rt.dst === '0.0.0.0/0')).toEqual([{ dst: '0.0.0.0/0', gw: '10.70.6.1' }]);
    const kernel = ipJson<{ dev: string; gateway?: string }[]>(
      '-n',
      p.ns.name,
      '-4',
      'route',
      'show',
      'default',
    );
    expect(kernel.map((k) => [k.dev, k.gateway])).toEqual([['net1', '10.70.6.1']]);
    expect(routes).toContainEqual({ dst: '192.0.2.0/24' });
    expect(status(p)?.map((s) => s.gateway)).toEqual([undefined, ['10.70.6.1']]);
    expect((await p.call('DEL')).code).toBe(0);

    const q = pod({
      'k8s.v1.cni.cncf.io/networks':
        '[{"name":"gw-net","default-route":["10.70.6.1"]},{"name":"mv-a","default-route":["10.70.1.1"]}]',
    });
    const bad = await q.call('ADD');
    expect(bad.json).toMatchObject({ code: 7 });
    expect(String(bad.json?.msg)).toBe(
      'pod annotation k8s.v1.cni.cncf.io/networks: "default-route" asks for two IPv4 default gateways: "10.70.6.1" (network "default/gw-net") and "10.70.1.1" (network "default/mv-a")',
    );
    expectNothingLeft(q);
  });

  it('a malformed annotation is code 7 quoting the bad part, nothing attached', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a, a/b/c' });
    const r = await p.call('ADD');
    expect(r.json).toMatchObject({
      code: 7,
      msg: 'pod annotation k8s.v1.cni.cncf.io/networks: "a/b/c": more than one "/" (expected [namespace/]name[@interface])',
    });
    expectNothingLeft(p);
  });

  it('a pod already deleted: Multus’s empty result, nothing attached', async () => {
    const p = pod({}, { register: false });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: p.ns.path }],
      ips: [{ address: '0.0.0.0/0', gateway: '0.0.0.0' }],
      dns: {},
    });
    expectNothingLeft(p);
    expect((await p.call('DEL')).code).toBe(0);
  });
});

describe('namespaces', () => {
  it('namespace isolation refuses a NAD of another namespace and leaves nothing behind', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a, other/foreign' });
    const r = await p.call('ADD', metaConf({ namespaceIsolation: true }));
    expect(r.json).toMatchObject({
      code: 7,
      msg: 'namespace isolation: pod in namespace "default" may not use network "other/foreign"',
      details: 'allowed: its own namespace and the global namespaces "default" (globalNamespaces)',
    });
    expectNothingLeft(p);
    expect(status(p)).toBeUndefined();
    // a global namespace may be used
    const ok = await p.call(
      'ADD',
      metaConf({ namespaceIsolation: true, globalNamespaces: 'other, default' }),
    );
    expect(ok.code, ok.stdout).toBe(0);
    expect(podLinks(p.ns.name).sort()).toEqual(['eth0', 'net1', 'net2']);
    expect((await p.call('DEL', metaConf({ namespaceIsolation: true }))).code).toBe(0);
    expectNothingLeft(p);
  });

  it('namespace isolation also holds for v1.multus-cni.io/default-network: code 7 before anything is attached', async () => {
    const iso = metaConf({ namespaceIsolation: true });
    // another namespace's NAD as the default network: refused, never the master
    const p = pod({ 'v1.multus-cni.io/default-network': 'other/foreign' });
    const r = await p.call('ADD', iso);
    expect(r.json).toMatchObject({
      code: 7,
      msg: 'namespace isolation: pod in namespace "default" may not use network "other/foreign" (annotation v1.multus-cni.io/default-network)',
      details:
        'allowed: its own namespace, the global namespaces "default" (globalNamespaces) and "kube-system" (multusNamespace)',
    });
    expectNothingLeft(p);
    expect(status(p)).toBeUndefined();
    // an unqualified name resolves in multusNamespace, which is allowed
    const q = pod({ 'v1.multus-cni.io/default-network': 'cluster-alt' });
    const ok = await q.call('ADD', iso);
    expect(ok.code, ok.stdout).toBe(0);
    expect(addrs(q.ns.name, 'eth0')[0]).toMatch(/^10\.70\.9\./);
    expect((await q.call('DEL', iso)).code).toBe(0);
    expectNothingLeft(q);
  });

  it('pods in systemNamespaces get no defaultNetworks and no network-status', async () => {
    const confDir = join(work, 'conf.d');
    rmSync(confDir, { recursive: true, force: true });
    (await import('node:fs')).mkdirSync(confDir);
    writeFileSync(
      join(confDir, 'c.conf'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'c-net',
        type: 'macvlan',
        master: 'k8m0',
        ipam: hostLocal('10.70.7.0/24'),
      }),
    );
    writeFileSync(
      join(confDir, 'd.conf'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'd-net',
        type: 'macvlan',
        master: 'k8m1',
        ipam: hostLocal('10.70.8.0/24'),
      }),
    );
    const conf = metaConf({
      delegates: undefined,
      clusterNetwork: 'c-net',
      defaultNetworks: ['d-net'],
      confDir,
    });
    const sys = pod({}, { namespace: 'kube-system' });
    expect((await sys.call('ADD', conf)).code).toBe(0);
    expect(podLinks(sys.ns.name)).toEqual(['eth0']);
    expect(api.annotation('kube-system', sys.name, 'k8s.v1.cni.cncf.io/network-status')).toBeUndefined();
    const usr = pod({});
    expect((await usr.call('ADD', conf)).code).toBe(0);
    expect(podLinks(usr.ns.name).sort()).toEqual(['eth0', 'net1']);
    expect(status(usr)?.map((s) => s.name)).toEqual(['c-net', 'd-net']);
    for (const p of [sys, usr]) expect((await p.call('DEL', conf)).code).toBe(0);
    expect(reservations()).toEqual([]);
  });
});

describe('SR-IOV device IDs', () => {
  it('each attachment gets a distinct allocated VF in sorted order, device-info in network-status; DEL returns them', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'sriov-net, sriov-net' });
    kubelet.pods = [
      {
        namespace: 'default',
        name: p.name,
        containers: { app: { 'intel.com/sriov': [VFS[1]?.pci ?? '', VFS[0]?.pci ?? ''] } },
      },
    ];
    const dp = (pci: string) => join(devinfo, 'dp', `intel.com-sriov-${pci}-device.json`);
    (await import('node:fs')).mkdirSync(join(devinfo, 'dp'), { recursive: true });
    for (const v of VFS)
      writeFileSync(
        dp(v.pci),
        JSON.stringify({
          type: 'pci',
          version: '1.1.0',
          pci: { 'pci-address': v.pci, 'pf-pci-address': PF },
        }),
      );
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[0]?.mac);
    expect(linkIn(p.ns.name, 'net2')?.address).toBe(VFS[1]?.mac);
    const cniCopy = join(devinfo, 'cni', `default-sriov-net-${p.cid}_net1`);
    expect(JSON.parse(readFileSync(cniCopy, 'utf8'))).toMatchObject({ pci: { 'pci-address': VFS[0]?.pci } });
    const st = status(p) ?? [];
    expect(
      st
        .slice(1)
        .map((s) => [s.interface, (s['device-info'] as { pci: Record<string, string> }).pci['pci-address']]),
    ).toEqual([
      ['net1', VFS[0]?.pci],
      ['net2', VFS[1]?.pci],
    ]);
    expect(kubelet.calls.at(-1)).toBe('/v1.PodResourcesLister/Get');
    const del = await p.call('DEL');
    expect(del.code, del.stdout).toBe(0);
    expect(existsSync(cniCopy)).toBe(false);
    expect(readdirSync(join(devinfo, 'cni'))).toEqual([]);
    expect(linkIn(undefined, VFS[0]?.netdev ?? '')?.address).toBe(VFS[0]?.mac);
    expect(linkIn(undefined, VFS[1]?.netdev ?? '')?.address).toBe(VFS[1]?.mac);
    expectNothingLeft(p);
  });

  it('from the checkpoint when the socket is gone; too few devices is code 7', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'sriov-net' });
    writeFileSync(
      checkpoint,
      JSON.stringify({
        Data: {
          PodDeviceEntries: [
            {
              PodUID: `uid-${p.name}`,
              ContainerName: 'app',
              ResourceName: 'intel.com/sriov',
              DeviceIDs: { '0': [VFS[2]?.pci] },
            },
          ],
          RegisteredDevices: {},
        },
        Checksum: 0,
      }),
    );
    const conf = metaConf({ podResourcesSocket: join(work, 'no-such.sock') });
    const r = await p.call('ADD', conf);
    expect(r.code, r.stdout).toBe(0);
    expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[2]?.mac);
    expect((await p.call('DEL', conf)).code).toBe(0);

    const q = pod({ 'k8s.v1.cni.cncf.io/networks': 'sriov-net,sriov-net' });
    kubelet.pods = [
      { namespace: 'default', name: q.name, containers: { app: { 'intel.com/sriov': [VFS[0]?.pci ?? ''] } } },
    ];
    const short = await q.call('ADD');
    expect(short.json).toMatchObject({ code: 7 });
    expect(String(short.json?.msg)).toMatch(
      /network "default\/sriov-net" needs a device of resource "intel.com\/sriov", but pod default\/pod-\w+ has 1 allocated \(pod-resources Get on .*\) and earlier attachments use it/,
    );
    expectNothingLeft(q);
  });
});

describe('what the runtime passes', () => {
  const withAnnotations = (annotations: Record<string, string>, extra: object = {}) =>
    metaConf({
      capabilities: { 'io.kubernetes.cri.pod-annotations': true },
      runtimeConfig: { 'io.kubernetes.cri.pod-annotations': annotations },
      ...extra,
    });

  it('reads the networks from io.kubernetes.cri.pod-annotations without a pod GET; network-status by one merge patch', async () => {
    // the API server's copy asks for nothing: only the runtime's annotations can attach net1
    const p = pod({});
    const conf = withAnnotations({ 'k8s.v1.cni.cncf.io/networks': 'mv-a@data0', other: 'x' });
    const before = api.log.length;
    const r = await p.call('ADD', conf);
    expect(r.code, r.stdout).toBe(0);
    expect(podLinks(p.ns.name).sort()).toEqual(['data0', 'eth0']);
    const calls = api.log.slice(before).map((l) => `${l.method} ${l.path.split('?')[0]}`);
    expect(calls.filter((c) => c.startsWith('GET /api/v1/'))).toEqual([]);
    expect(calls).toContain(`PATCH /api/v1/namespaces/default/pods/${p.name}/status`);
    expect(status(p)?.map((s) => [s.name, s.interface])).toEqual([
      ['cluster', 'eth0'],
      ['default/mv-a', 'data0'],
    ]);
    expect((await p.call('DEL', conf)).code).toBe(0);
    expectNothingLeft(p);
  });

  it('never writes the network-status of another pod of the same name (the uid is the patch precondition)', async () => {
    const p = pod({});
    const stored = api.pods.get(`default/${p.name}`);
    if (stored) stored.metadata.uid = 'a-newer-pod';
    const r = await p.call('ADD', withAnnotations({}));
    expect(r.code, r.stdout).toBe(0);
    expect(status(p)).toBeUndefined();
    expect(api.log.at(-1)?.status).not.toBe(200);
    expect((await p.call('DEL', withAnnotations({}))).code).toBe(0);
  });

  it('gives pod-wide capability arguments (cgroupPath) to secondaries that declare them, the rest to the master only', async () => {
    const { capabilityArgsFor } = await import('../../src/meta/pod-attachment.ts');
    const rc = {
      cgroupPath: '/kubepods/pod1',
      portMappings: [{ hostPort: 80 }],
      dns: { servers: ['10.0.0.10'] },
    };
    const d = (master: boolean) => ({ master }) as Parameters<typeof capabilityArgsFor>[1];
    expect(capabilityArgsFor(rc, d(true))).toEqual(rc);
    expect(capabilityArgsFor(rc, d(false))).toEqual({ cgroupPath: '/kubepods/pod1' });
  });
});

describe('events', () => {
  const eventsOf = (p: PodCall) =>
    api.events
      .filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === p.name)
      .map((e) => [e.type, e.reason, e.message]);

  it('one AddedInterface per attachment after ADD, worded as Multus words it', async () => {
    const p = pod({
      'k8s.v1.cni.cncf.io/networks':
        '[{"name":"mv-a"},{"name":"mv-b","interface":"st0","ips":["10.70.3.7/24","fd00:70::7/64"]}]',
    });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    const eth0 = addrs(p.ns.name, 'eth0')[0];
    const net1 = addrs(p.ns.name, 'net1')[0];
    expect(eventsOf(p)).toEqual([
      ['Normal', 'AddedInterface', `Add eth0 [${eth0}] from cluster`],
      ['Normal', 'AddedInterface', `Add net1 [${net1}] from default/mv-a`],
      ['Normal', 'AddedInterface', 'Add st0 [10.70.3.7/24 fd00:70::7/64] from default/mv-b'],
    ]);
    const e = api.events.find((x) => (x.involvedObject as { name?: string }).name === p.name);
    expect(e).toMatchObject({
      involvedObject: { kind: 'Pod', namespace: 'default', name: p.name, uid: `uid-${p.name}` },
      source: { component: 'manifold' },
      count: 1,
    });
    expect((await p.call('DEL')).code).toBe(0);
  });

  it('a Warning when the pod asks for a NAD that is missing (NoNetworkFound) or not allowed; none for what its owner cannot fix', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'nope' });
    expect((await p.call('ADD')).json).toMatchObject({ code: 7 });
    expect(eventsOf(p)).toEqual([
      [
        'Warning',
        'NoNetworkFound',
        `pod default/${p.name} (annotation k8s.v1.cni.cncf.io/networks) asks for network "default/nope": no such NetworkAttachmentDefinition`,
      ],
    ]);
    const q = pod({ 'k8s.v1.cni.cncf.io/networks': 'other/foreign' });
    expect((await q.call('ADD', metaConf({ namespaceIsolation: true }))).json).toMatchObject({ code: 7 });
    expect(eventsOf(q)).toEqual([
      [
        'Warning',
        'InvalidNetworkRequest',
        'namespace isolation: pod in namespace "default" may not use network "other/foreign"',
      ],
    ]);
    expectNothingLeft(q);
  });

  it('are best effort: events refused (403) change nothing', async () => {
    api.eventsStatus = 403;
    try {
      const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
      const r = await p.call('ADD');
      expect(r.code, r.stdout).toBe(0);
      expect(status(p)?.length).toBe(2);
      expect(eventsOf(p)).toEqual([]);
      expect((await p.call('DEL')).code).toBe(0);
    } finally {
      api.eventsStatus = 0;
    }
  });
});

describe("deploy/rbac.yaml's ClusterRole", () => {
  it('is all a pod needs: ADD with network-status and events, DEL, against a stand-in that enforces it', async () => {
    const docs = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../deploy/rbac.yaml'), 'utf8'));
    const role = docs.map((d) => d.toJS()).find((d) => d?.kind === 'ClusterRole');
    api.rbac = role.rules;
    try {
      const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
      const before = api.log.length;
      const r = await p.call('ADD');
      expect(r.code, r.stdout).toBe(0);
      expect(status(p)?.length).toBe(2);
      expect(api.events.filter((e) => (e.involvedObject as { name: string }).name === p.name)).toHaveLength(
        2,
      );
      expect((await p.call('DEL')).code).toBe(0);
      expect(api.log.slice(before).filter((l) => l.status === 403)).toEqual([]);
      // and the stand-in does refuse what the role does not grant
      api.rbac = role.rules.filter((x: { resources: string[] }) => !x.resources.includes('events'));
      const q = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
      expect((await q.call('ADD')).code).toBe(0);
      expect(api.log.filter((l) => l.method === 'POST' && l.status === 403).length).toBeGreaterThan(0);
      expect((await q.call('DEL')).code).toBe(0);
    } finally {
      api.rbac = undefined;
    }
  });
});

describe('DEL without a readable cache', () => {
  it("re-reads the pod's networks and releases every attachment's addresses", async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a, gw-net' });
    const r = await p.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(reservations(p.cid)).toHaveLength(3);
    const cache = readdirSync(cniDir).filter((f) => f.includes(`-${p.cid}-`));
    expect(cache).toHaveLength(1);
    writeFileSync(join(cniDir, cache[0] as string), '{"kind": "manifold-cache", "trunc');
    const del = await p.call('DEL');
    expect(del.code, del.stdout).toBe(0);
    expectNothingLeft(p);
  });

  it("with the runtime's annotations, also once the pod is gone from the API server", async () => {
    const annotations = { 'k8s.v1.cni.cncf.io/networks': 'mv-a' };
    const conf = metaConf({ runtimeConfig: { 'io.kubernetes.cri.pod-annotations': annotations } });
    const p = pod(annotations);
    expect((await p.call('ADD', conf)).code).toBe(0);
    api.pods.delete(`default/${p.name}`);
    const cache = readdirSync(cniDir).filter((f) => f.includes(`-${p.cid}-`));
    writeFileSync(join(cniDir, cache[0] as string), 'garbage');
    const del = await p.call('DEL', conf);
    expect(del.code, del.stdout).toBe(0);
    expectNothingLeft(p);
  });
});

describe('the API server', () => {
  it('a token rotated between two ADDs is used from the file', async () => {
    const a = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
    expect((await a.call('ADD')).code).toBe(0);
    api.tokens.add('t2');
    api.tokens.delete('t1');
    writeFileSync(tokenFile, 't2\n');
    const b = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
    const r = await b.call('ADD');
    expect(r.code, r.stdout).toBe(0);
    expect(status(b)?.length).toBe(2);
    expect(api.log.at(-1)?.auth).toBe('token:t2');
    // the old token is refused now: code 7 naming the credentials
    writeFileSync(tokenFile, 't1\n');
    const c = pod({});
    const refused = await c.call('ADD');
    expect(refused.json).toMatchObject({ code: 7 });
    expect(String(refused.json?.msg)).toMatch(
      /failed to read pod default\/pod-\w+: the API server refused the credentials \(401 Unauthorized\)/,
    );
    expectNothingLeft(c);
    writeFileSync(tokenFile, 't2\n');
    for (const p of [a, b]) expect((await p.call('DEL')).code).toBe(0);
    api.tokens.add('t1');
  });

  it('API down on ADD: code 11 and nothing attached; on DEL: the cache is enough', async () => {
    const up = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a@d0' });
    expect((await up.call('ADD')).code).toBe(0);
    const port = api.port;
    await api.stop();
    try {
      const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
      const r = await p.call('ADD');
      expect(r.json).toMatchObject({
        code: 11,
        details: 'the pod is not attached without the networks it asks for; the runtime will try again',
      });
      expect(String(r.json?.msg)).toMatch(
        /^failed to read pod default\/pod-\w+: the API server https:\/\/127\.0\.0\.1:\d+ did not answer GET .* in \d+\.\d s \(\d+ attempts?, budget 1\.5 s\)/,
      );
      expectNothingLeft(p);
      const del = await up.call('DEL');
      expect(del.code, del.stdout).toBe(0);
      expectNothingLeft(up);
    } finally {
      await api.start(port);
    }
  });

  it('network-status that cannot be written (403) fails ADD and undoes it', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'mv-a' });
    api.forbidStatus = true;
    try {
      const r = await p.call('ADD');
      expect(r.json).toMatchObject({ code: 7 });
      expect(String(r.json?.msg)).toMatch(
        /failed to write the network-status of pod default\/pod-\w+: the API server refused the request \(403 Forbidden: .*cannot patch resource "pods\/status"/,
      );
      expectNothingLeft(p);
    } finally {
      api.forbidStatus = false;
    }
  });
});
