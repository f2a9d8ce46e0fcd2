/**
 * Hot-plug (issue 23, docs/hotplug.md) on the real kernel, with the daemon's server, pod watch
 * and hot-plug controller in this process and the stand-in API server serving list+watch:
 * a running pod (made by the runtime's ADD through the daemon's socket) gains and loses
 * macvlan networks when its networks annotation changes — the interface appears and goes,
 * its host-local address is reserved and released, network-status and events follow — two
 * at once, an element without an interface name (net<N>), a failed hot-plug (a NAD that
 * does not exist, an address already in use) that leaves the rest alone with a Warning, the
 * pod's DEL racing a hot-plug (nothing left), and a restart of the controller between two
 * changes (nothing that should stay is detached).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { attachCommand } from '../../src/cli/attach/attach.ts';
import { knownPods, reconcilePod } from '../../src/cli/daemon/hotplug-ops.ts';
import { detachCommand } from '../../src/cli/detach/detach.ts';
import { HotplugController } from '../../src/daemon/hotplug.ts';
import { KubeWatches } from '../../src/daemon/kube.ts';
import { callRunner, type Plugins } from '../../src/daemon/runner.ts';
import { Daemon } from '../../src/daemon/server.ts';
import { kubeconfigSource } from '../../src/k8s/kubeconfig.ts';
import { invoker, loaderFor } from '../../src/registry.ts';
import { MANIFOLD_VERSION } from '../../src/util/version.ts';
import { cliIO } from '../helpers/cli.ts';
import { cniCall, httpCall } from '../helpers/daemon.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { FakePodResources } from '../helpers/fake-podresources.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { linkIn, podLinks } from '../helpers/inproc.ts';
import { makePki } from '../helpers/pki.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const work = scratchDir('mf-it-hot-');
const dataDir = join(work, 'ipam');
const cniDir = join(work, 'cache');
const kubeconfig = join(work, 'kubeconfig');
const socket = join(work, 'd', 'manifold.sock');
const api = new FakeApiServer(makePki());
const NODE = 'node1';
const NETS = 'k8s.v1.cni.cncf.io/networks';
const STATUS = 'k8s.v1.cni.cncf.io/network-status';
const kubelet = new FakePodResources(join(work, 'kubelet.sock'));
const devinfo = join(work, 'devinfo');
const fake = new FakeSysfs(join(work, 'sys'));
const PF = '0000:01:00.0';
const VFS = [0, 1].map((n) => ({ pci: `0000:01:10.${n}`, netdev: `hvf${n}`, mac: `02:cc:00:00:00:0${n}` }));

(globalThis as { __manifoldNoAutorun?: boolean }).__manifoldNoAutorun = true;
const { pluginTypeFor } = await import('../../src/main.ts');
const plugins: Plugins = { typeFor: pluginTypeFor, load: loaderFor, invoker, version: MANIFOLD_VERSION };

let kube: KubeWatches;
let daemon: Daemon;
let hot: HotplugController;
const logs: string[] = [];

const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet }]] });
const macvlan = (subnet: string) => ({
  cniVersion: '1.0.0',
  type: 'macvlan',
  master: 'hp1',
  ipam: hostLocal(subnet),
});

const deps = () => ({
  cniDir,
  kube,
  invoker,
  env: { PATH: process.env.PATH ?? '', MANIFOLD_SYSFS_ROOT: fake.root },
  inTurn: <T>(cid: string, fn: () => Promise<T>) => daemon.runTask(cid, fn),
  log: (l: string) => logs.push(l),
});

const watches = () =>
  new KubeWatches({
    credentials: { source: kubeconfigSource(kubeconfig), from: 'test kubeconfig' },
    nodeName: NODE,
    log: () => {},
    backoffMs: { first: 20, max: 200 },
  });

function controller(): HotplugController {
  const d = deps();
  return new HotplugController({
    pods: kube.pods,
    reconcile: (ns, name) => reconcilePod(d, ns, name),
    known: () => knownPods(cniDir),
    log: (l) => logs.push(l),
    backoffMs: { first: 50, max: 400 },
  });
}

beforeAll(async () => {
  for (const m of ['hp0', 'hp1', 'hpf0']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
  fake.addPf(PF, 'hpf0');
  for (const [i, v] of VFS.entries()) {
    ip('link', 'add', v.netdev, 'address', v.mac, 'type', 'veth', 'peer', 'name', `${v.netdev}p`);
    fake.addVf(PF, i, v.pci, { netdev: v.netdev });
  }
  await kubelet.start();
  api.addNad(
    'default',
    'hp-sriov',
    {
      cniVersion: '1.0.0',
      type: 'sriov',
      dataDir: join(work, 'sriov'),
      netdevReturnTimeout: 300,
      ipam: hostLocal('10.73.4.0/24'),
    },
    { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov' },
  );
  await api.start();
  api.tokens.add('hp');
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, 'hp\n');
  api.writeKubeconfig(kubeconfig, { tokenFile });
  // the daemon's hot-plug needs nothing beyond deploy/rbac.yaml's ClusterRole
  const docs = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../deploy/rbac.yaml'), 'utf8'));
  api.rbac = docs.map((d) => d.toJS()).find((d) => d?.kind === 'ClusterRole').rules;
  api.addNad('default', 'hp-a', macvlan('10.73.1.0/24'));
  api.addNad('default', 'hp-b', macvlan('10.73.2.0/24'));
  api.addNad('default', 'hp-one', macvlan('10.73.3.0/30')); // one address: the second pod finds it in use
  kube = watches();
  kube.start();
  daemon = new Daemon({
    socket,
    // the calls use whichever watches are current (a restart test replaces them)
    run: callRunner(plugins, {
      path: process.env.PATH,
      stderr: () => {},
      host: {
        kube: {
          server: 'test kubeconfig',
          pod: (...a: Parameters<KubeWatches['pod']>) => kube.pod(...a),
          nad: (...a: Parameters<KubeWatches['nad']>) => kube.nad(...a),
          send: (...a: Parameters<KubeWatches['send']>) => kube.send(...a),
        },
      },
    }),
    extraMetrics: () => hot.metricLines(),
  });
  await daemon.start();
  await Promise.all([kube.pods.whenSynced(), kube.nads.whenSynced()]);
  hot = controller();
  hot.start();
});

afterAll(async () => {
  await hot?.stop();
  await daemon?.close();
  await kube?.stop();
  await api.stop();
  await kubelet.stop();
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, tries = 400): Promise<void> => {
  for (let i = 0; i < tries; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}\n${logs.slice(-5).join('\n')}`);
};

const metaConf = {
  cniVersion: '1.0.0',
  name: 'hp-pods',
  type: 'manifold',
  cniDir,
  kubeApiTimeoutSeconds: 1.5,
  podResourcesSocket: join(work, 'kubelet.sock'),
  kubeletCheckpointFile: join(work, 'no-checkpoint'),
  deviceInfoDir: devinfo,
  delegates: [
    { cniVersion: '1.0.0', name: 'cluster', type: 'macvlan', master: 'hp0', ipam: hostLocal('10.73.0.0/24') },
  ],
};

interface Pod {
  readonly name: string;
  readonly cid: string;
  readonly ns: { name: string; path: string };
  call(verb: 'ADD' | 'DEL'): Promise<{ status: number | undefined; stdout: string }>;
  set(networks: string | undefined): void;
}

async function runningPod(networks?: string): Promise<Pod> {
  const name = uniq('hpp-');
  const uid = `uid-${name}`;
  api.addPod({
    namespace: 'default',
    name,
    uid,
    annotations: networks ? { [NETS]: networks } : {},
    nodeName: NODE,
  });
  const ns = newNetns('mfhp');
  const cid = uniq('hpc');
  const p: Pod = {
    name,
    cid,
    ns,
    call: async (verb) => {
      const r = await cniCall(
        socket,
        'manifold',
        {
          CNI_COMMAND: verb,
          CNI_CONTAINERID: cid,
          CNI_NETNS: ns.path,
          CNI_IFNAME: 'eth0',
          CNI_PATH: '/opt/cni/bin',
          MANIFOLD_SYSFS_ROOT: fake.root,
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=${uid}`,
        },
        metaConf,
      );
      return { status: r.json?.status, stdout: r.json?.stdout ?? '' };
    },
    set: (v) => api.setPodAnnotation('default', name, NETS, v),
  };
  await until('the pod is in the watch', () => kube.pods.get('default', name) !== undefined);
  const r = await p.call('ADD');
  expect(r.stdout).not.toContain('"code"');
  expect(r.status).toBe(0);
  await hot.idle();
  return p;
}

const links = (p: Pod) =>
  podLinks(p.ns.name)
    .filter((n) => n !== 'lo')
    .sort();
const status = (p: Pod) => {
  const v = api.annotation('default', p.name, STATUS);
  return v === undefined ? [] : (JSON.parse(v) as { name: string; interface?: string; ips?: string[] }[]);
};
const statusIfaces = (p: Pod) =>
  status(p)
    .map((s) => `${s.interface}=${s.name}`)
    .sort();
const events = (p: Pod) =>
  api.events
    .filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === p.name)
    .map((e) => `${String(e.type)} ${String(e.reason)}: ${String(e.message)}`);
function reservations(cid: string): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).flatMap((n) =>
    readdirSync(join(dataDir, n))
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .filter((f) => readFileSync(join(dataDir, n, f), 'utf8').startsWith(`${cid}\r\n`))
      .map((f) => `${n}/${f}`),
  );
}
const caches = (cid: string) =>
  existsSync(cniDir) ? readdirSync(cniDir).filter((f) => f.includes(`-${cid}-`)) : [];
const metric = async (line: RegExp) => {
  const m = line.exec((await httpCall(socket, 'GET', '/metrics')).body);
  return m ? Number(m[1]) : undefined;
};

describe('hot-plug of macvlan networks', () => {
  it('adds a network to a running pod, then removes it', async () => {
    const p = await runningPod();
    expect(links(p)).toEqual(['eth0']);
    p.set('[{"name":"hp-a","interface":"hpa1"}]');
    await until('hpa1 is in network-status', () => statusIfaces(p).includes('hpa1=default/hp-a'));
    expect(links(p)).toEqual(['eth0', 'hpa1']);
    expect(reservations(p.cid).filter((r) => r.includes('/10.73.1.'))).toHaveLength(1);
    expect(statusIfaces(p)).toEqual(['eth0=cluster', 'hpa1=default/hp-a']);
    await until('the AddedInterface event', () =>
      events(p).some((e) =>
        /^Normal AddedInterface: Add hpa1 \[10\.73\.1\.\d+\/24\] from default\/hp-a$/.test(e),
      ),
    );
    p.set(undefined);
    await until('hpa1 left network-status', () => !statusIfaces(p).some((s) => s.startsWith('hpa1')));
    expect(links(p)).toEqual(['eth0']);
    expect(reservations(p.cid).filter((r) => r.includes('/10.73.1.'))).toEqual([]);
    await until('the RemovedInterface event', () =>
      events(p).some((e) =>
        /^Normal RemovedInterface: Remove hpa1 \[10\.73\.1\.\d+\/24\] from default\/hp-a$/.test(e),
      ),
    );
    expect(await metric(/^manifold_hotplug_attachments_total\{op="attach"\} (\d+)$/m)).toBeGreaterThanOrEqual(
      1,
    );
    expect(await metric(/^manifold_hotplug_attachments_total\{op="detach"\} (\d+)$/m)).toBeGreaterThanOrEqual(
      1,
    );
    expect((await p.call('DEL')).status).toBe(0);
    expect(reservations(p.cid)).toEqual([]);
    expect(caches(p.cid)).toEqual([]);
  });

  it('adds two at once and removes one; an element without an interface gets the first free net<N>', async () => {
    const p = await runningPod();
    p.set('hp-a,hp-b');
    await until('both in network-status', () => status(p).length === 3);
    expect(links(p)).toEqual(['eth0', 'net1', 'net2']);
    expect(statusIfaces(p)).toEqual(['eth0=cluster', 'net1=default/hp-a', 'net2=default/hp-b']);
    p.set('hp-b');
    await until('hp-a left network-status', () => status(p).length === 2);
    // the one that stays is untouched: same name, same address
    expect(links(p)).toEqual(['eth0', 'net2']);
    expect(statusIfaces(p)).toEqual(['eth0=cluster', 'net2=default/hp-b']);
    expect(reservations(p.cid).filter((r) => r.includes('/10.73.1.'))).toEqual([]);
    expect(reservations(p.cid).filter((r) => r.includes('/10.73.2.'))).toHaveLength(1);
    // the first free name is taken again
    p.set('hp-b,hp-a');
    await until('hp-a back as net1', () => statusIfaces(p).includes('net1=default/hp-a'));
    expect(links(p)).toEqual(['eth0', 'net1', 'net2']);
    expect((await p.call('DEL')).status).toBe(0);
    expect(reservations(p.cid)).toEqual([]);
    expect(podLinks(p.ns.name).filter((n) => n !== 'lo')).toEqual([]);
  });

  it('a NAD that does not exist: the rest untouched, a Warning, the annotation as written', async () => {
    const p = await runningPod('[{"name":"hp-a","interface":"hpa1"}]');
    expect(links(p)).toEqual(['eth0', 'hpa1']);
    const before = status(p);
    const value = '[{"name":"hp-a","interface":"hpa1"},{"name":"hp-missing","interface":"hpm1"}]';
    p.set(value);
    await until('the Warning event', () => events(p).some((e) => e.startsWith('Warning HotplugFailed:')));
    expect(events(p).find((e) => e.startsWith('Warning'))).toContain(
      'no such NetworkAttachmentDefinition "default/hp-missing"',
    );
    await hot.idle();
    expect(links(p)).toEqual(['eth0', 'hpa1']);
    expect(status(p)).toEqual(before);
    expect(api.annotation('default', p.name, NETS)).toBe(value);
    expect(logs.some((l) => l.includes('hp-missing'))).toBe(true);
    expect(
      await metric(/^manifold_hotplug_failures_total\{kind="permanent"\} (\d+)$/m),
    ).toBeGreaterThanOrEqual(1);
    expect((await p.call('DEL')).status).toBe(0);
    expect(reservations(p.cid)).toEqual([]);
  });

  it('an address already in use: rolled back, nothing of it left, a Warning', async () => {
    const first = await runningPod('[{"name":"hp-one","interface":"one1"}]');
    expect(links(first)).toEqual(['eth0', 'one1']);
    const p = await runningPod();
    p.set('[{"name":"hp-one","interface":"one1"}]');
    await until('the Warning event', () => events(p).some((e) => e.startsWith('Warning HotplugFailed:')));
    await hot.idle();
    expect(links(p)).toEqual(['eth0']);
    expect(statusIfaces(p)).toEqual(['eth0=cluster']);
    expect(reservations(p.cid).filter((r) => r.includes('/10.73.3.'))).toEqual([]);
    const cache = JSON.parse(readFileSync(join(cniDir, caches(p.cid)[0] as string), 'utf8'));
    expect(cache.delegates).toHaveLength(1);
    for (const x of [first, p]) expect((await x.call('DEL')).status).toBe(0);
  });

  it('the pod deleted while a hot-plug is in flight: its DEL waits behind it and removes all it made', async () => {
    const p = await runningPod();
    // the container's turn held, so the hot-plug and then the runtime's DEL queue behind it
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const holding = daemon.runTask(p.cid, () => gate);
    p.set('hp-a,hp-b');
    await until('the hot-plug waits for the turn', () => daemon.scheduler.waiting === 1);
    const del = p.call('DEL');
    await until('the DEL waits behind it', () => daemon.scheduler.waiting === 2);
    release();
    await holding;
    expect((await del).status).toBe(0);
    api.deletePod('default', p.name);
    await hot.idle();
    // the hot-plug did run first, and the DEL removed what it made
    expect(events(p).filter((e) => e.startsWith('Normal AddedInterface: Add net'))).toHaveLength(2);
    expect(reservations(p.cid)).toEqual([]);
    expect(caches(p.cid)).toEqual([]);
    expect(podLinks(p.ns.name)).toEqual([]);
  });

  it('the daemon restarted between two annotation changes: what stays stays, the change is made', async () => {
    const p = await runningPod('[{"name":"hp-a","interface":"hpa1"}]');
    const addrBefore = status(p).find((s) => s.interface === 'hpa1')?.ips;
    // the daemon's watches and hot-plug stop; the annotation changes while nobody watches
    await hot.stop();
    await kube.stop();
    p.set('[{"name":"hp-a","interface":"hpa1"},{"name":"hp-b"}]');
    await new Promise((r) => setTimeout(r, 100));
    expect(links(p)).toEqual(['eth0', 'hpa1']);
    // started again: new watches (a fresh list), a new controller reconciling from the caches
    kube = watches();
    kube.start();
    hot = controller();
    hot.start();
    await until('hp-b attached after the restart', () => status(p).length === 3);
    await hot.idle();
    expect(links(p)).toEqual(['eth0', 'hpa1', 'net1']);
    expect(status(p).find((s) => s.interface === 'hpa1')?.ips).toEqual(addrBefore);
    expect((await p.call('DEL')).status).toBe(0);
    expect(reservations(p.cid)).toEqual([]);
  });
});

describe('hot-plug of an SR-IOV network', () => {
  it('takes a device kubelet allocated to the pod that no attachment uses; with none spare, refused with an event', async () => {
    const p = await runningPod();
    kubelet.pods = [
      { namespace: 'default', name: p.name, containers: { app: { 'intel.com/sriov': [VFS[1]?.pci ?? ''] } } },
    ];
    p.set('hp-sriov');
    await until('net1 in network-status', () => statusIfaces(p).includes('net1=default/hp-sriov'));
    expect(linkIn(p.ns.name, 'net1')?.address).toBe(VFS[1]?.mac);
    expect(linkIn(undefined, VFS[1]?.netdev ?? '')).toBeUndefined();
    // a second one: the pod's only device is in use
    p.set('hp-sriov,hp-sriov');
    await until('the Warning event', () => events(p).some((e) => e.startsWith('Warning HotplugFailed:')));
    expect(events(p).find((e) => e.startsWith('Warning'))).toMatch(
      /no spare device of resource "intel.com\/sriov": pod default\/hpp-\w+ has 1 allocated .* and its attachments use it/,
    );
    await hot.idle();
    expect(links(p)).toEqual(['eth0', 'net1']);
    expect((await p.call('DEL')).status).toBe(0);
    // the VF is back on the host under its name and MAC
    expect(linkIn(undefined, VFS[1]?.netdev ?? '')?.address).toBe(VFS[1]?.mac);
    expect(reservations(p.cid)).toEqual([]);
  });
});

describe('manifold attach and detach', () => {
  it('attach appends to the annotation and waits for network-status; detach finds an unnamed element through it', async () => {
    const p = await runningPod('hp-b');
    expect(links(p)).toEqual(['eth0', 'net1']);
    // the operator's credentials may also patch pods (the stand-in has one rule set for all)
    const daemonRules = api.rbac ?? [];
    api.rbac = [...daemonRules, { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }];
    const io = cliIO({ env: { KUBECONFIG: kubeconfig } });
    const code = await attachCommand.run([`default/${p.name}`, 'hp-a', '--interface', 'cli1'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    expect(io.out()).toMatch(/^attached: cli1 \[10\.73\.1\.\d+\] from default\/hp-a$/m);
    expect(links(p)).toEqual(['cli1', 'eth0', 'net1']);
    expect(JSON.parse(api.annotation('default', p.name, NETS) ?? '')).toEqual([
      { name: 'hp-b' },
      { name: 'hp-a', interface: 'cli1' },
    ]);
    // an interface the annotation does not name: the element of its network in network-status
    const io2 = cliIO({ env: { KUBECONFIG: kubeconfig } });
    expect(await detachCommand.run([p.name, 'net1'], io2)).toBe(0);
    expect(io2.out()).toMatch(/^detached: net1$/m);
    expect(links(p)).toEqual(['cli1', 'eth0']);
    expect(JSON.parse(api.annotation('default', p.name, NETS) ?? '')).toEqual([
      { name: 'hp-a', interface: 'cli1' },
    ]);
    // the cluster network is not the annotation's: refused, nothing written
    const io3 = cliIO({ env: { KUBECONFIG: kubeconfig } });
    await expect(detachCommand.run([p.name, 'eth0'], io3)).rejects.toThrow(
      /interface "eth0" \(cluster\) does not come from its k8s.v1.cni.cncf.io\/networks annotation/,
    );
    // without --interface: the daemon names it, the command reports the name network-status shows
    const io4 = cliIO({ env: { KUBECONFIG: kubeconfig } });
    expect(await attachCommand.run([p.name, 'default/hp-b'], io4)).toBe(0);
    expect(io4.out()).toMatch(/^attached: net1 \[10\.73\.2\.\d+\] from default\/hp-b$/m);
    expect(links(p)).toEqual(['cli1', 'eth0', 'net1']);
    api.rbac = daemonRules;
    expect((await p.call('DEL')).status).toBe(0);
    expect(reservations(p.cid)).toEqual([]);
  });
});
