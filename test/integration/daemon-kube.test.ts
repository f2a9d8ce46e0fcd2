/**
 * Daemon mode's Kubernetes side on the real kernel, the daemon's server in this process with
 * the stand-in API server enforcing deploy/rbac.yaml: watches of the node's pods and the NADs
 * make an ADD read nothing (the stand-in's request log proves it) while it still writes
 * network-status; a pod the watch has not seen yet is read through; a NAD changed through the
 * watch is used by the next ADD; a broken watch and a 410 recover; with the API server down a
 * DEL completes without asking it anything; garbage collection frees, for real, the
 * attachment of a pod deleted from the API (links, host-local address, cache file), leaves
 * the attachments of pods that exist alone, and does nothing while the pod watch is unsynced.
 * The meta config has no kubeconfig: in daemon mode the daemon's credentials are used.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { gcCandidates } from '../../src/cli/daemon/gc-candidates.ts';
import { Collector } from '../../src/daemon/gc.ts';
import { isMirrorPod, KubeWatches, uidOf } from '../../src/daemon/kube.ts';
import type { CniRequest } from '../../src/daemon/protocol.ts';
import { callRunner, type Plugins } from '../../src/daemon/runner.ts';
import { Daemon } from '../../src/daemon/server.ts';
import { kubeconfigSource } from '../../src/k8s/kubeconfig.ts';
import { invoker, loaderFor } from '../../src/registry.ts';
import { MANIFOLD_VERSION } from '../../src/util/version.ts';
import { cniCall, httpCall } from '../helpers/daemon.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { podLinks } from '../helpers/inproc.ts';
import { makePki } from '../helpers/pki.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const work = scratchDir('mf-it-dkube-');
const dataDir = join(work, 'ipam');
const cniDir = join(work, 'cache');
const kubeconfig = join(work, 'kubeconfig');
const socket = join(work, 'd', 'manifold.sock');
const api = new FakeApiServer(makePki());
const NODE = 'node1';
const GRACE_MS = 400;

(globalThis as { __manifoldNoAutorun?: boolean }).__manifoldNoAutorun = true;
const { pluginTypeFor } = await import('../../src/main.ts');
const plugins: Plugins = { typeFor: pluginTypeFor, load: loaderFor, invoker, version: MANIFOLD_VERSION };

let kube: KubeWatches;
let daemon: Daemon;
let gc: Collector;
/** Requests the calls sent on the daemon's kept-alive connection. */
const sent: string[] = [];

const hostLocal = (subnet: string) => ({ type: 'host-local', dataDir, ranges: [[{ subnet }]] });
const nadConfig = (subnet: string) => ({
  cniVersion: '1.0.0',
  type: 'macvlan',
  master: 'dk1',
  ipam: hostLocal(subnet),
});

beforeAll(async () => {
  for (const m of ['dk0', 'dk1']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
  await api.start();
  api.tokens.add('dk');
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, 'dk\n');
  api.writeKubeconfig(kubeconfig, { tokenFile });
  const docs = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../deploy/rbac.yaml'), 'utf8'));
  api.rbac = docs.map((d) => d.toJS()).find((d) => d?.kind === 'ClusterRole').rules;
  api.addNad('default', 'dk-net', nadConfig('10.72.1.0/24'));
  kube = new KubeWatches({
    credentials: { source: kubeconfigSource(kubeconfig), from: 'test kubeconfig' },
    nodeName: NODE,
    log: () => {},
    backoffMs: { first: 20, max: 200 },
  });
  const host = {
    kube: {
      server: kube.server,
      pod: kube.pod.bind(kube),
      nad: kube.nad.bind(kube),
      send: (...a: Parameters<KubeWatches['send']>) => {
        sent.push(`${a[0]} ${a[1]}`);
        return kube.send(...a);
      },
    },
  };
  kube.start();
  daemon = new Daemon({
    socket,
    run: callRunner(plugins, { path: process.env.PATH, stderr: () => {}, host }),
    extraMetrics: () => [...kube.metricLines(), ...gc.metricLines()],
  });
  await daemon.start();
  gc = new Collector({
    candidates: () => gcCandidates([cniDir]),
    pods: kube.pods,
    samePod: (o, uid) => !uid || uidOf(o) === uid || isMirrorPod(o),
    confirmGone: (ns, name, uid) => kube.confirmGone(ns, name, uid),
    run: (req: CniRequest) => daemon.runOwn(req),
    graceMs: GRACE_MS,
    intervalMs: 3_600_000, // the test sweeps itself
    log: (l) => logs.push(l),
  });
  await Promise.all([kube.pods.whenSynced(), kube.nads.whenSynced()]);
});
const logs: string[] = [];
afterAll(async () => {
  await gc?.stop();
  await daemon?.close();
  await kube?.stop();
  await api.stop();
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, tries = 400): Promise<void> => {
  for (let i = 0; i < tries; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
};

const metaConf = {
  cniVersion: '1.0.0',
  name: 'dk-pods',
  type: 'manifold',
  cniDir,
  kubeApiTimeoutSeconds: 1.5,
  delegates: [
    { cniVersion: '1.0.0', name: 'cluster', type: 'macvlan', master: 'dk0', ipam: hostLocal('10.72.0.0/24') },
  ],
};

interface Pod {
  readonly name: string;
  readonly uid: string;
  readonly cid: string;
  readonly ns: { name: string; path: string };
  call(verb: 'ADD' | 'DEL'): Promise<{ status: number | undefined; stdout: string }>;
}

function pod(annotations: Record<string, string> = {}, register = true): Pod {
  const name = uniq('dkp-');
  const uid = `uid-${name}`;
  if (register) api.addPod({ namespace: 'default', name, uid, annotations, nodeName: NODE });
  const ns = newNetns('mfdk');
  const cid = uniq('dkc');
  return {
    name,
    uid,
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
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=${uid}`,
        },
        metaConf,
      );
      return { status: r.json?.status, stdout: r.json?.stdout ?? '' };
    },
  };
}

const inWatch = (p: Pod) => kube.pods.get('default', p.name) !== undefined;
const gets = (from: number) =>
  api.log.slice(from).filter((r) => r.method === 'GET' && !r.path.includes('watch=1'));
const networkStatus = (p: Pod) => {
  const v = api.annotation('default', p.name, 'k8s.v1.cni.cncf.io/network-status');
  return v === undefined ? undefined : (JSON.parse(v) as { name: string; ips?: string[] }[]);
};
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

describe('calls use the watch caches', () => {
  it('an ADD with warm caches makes no GET and still writes network-status; DEL', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('the pod is in the watch', () => inWatch(p));
    const from = api.log.length;
    const hits =
      (await metric(/^manifold_kube_cache_lookups_total\{resource="pods",result="hit"\} (\d+)$/m)) ?? 0;
    const r = await p.call('ADD');
    expect(r.status, r.stdout).toBe(0);
    expect(gets(from)).toEqual([]);
    expect(networkStatus(p)?.map((s) => s.name)).toEqual(['cluster', 'default/dk-net']);
    expect(api.log.slice(from).map((x) => `${x.method} ${x.status}`)).toContain('PATCH 200');
    expect(await metric(/^manifold_kube_cache_lookups_total\{resource="pods",result="hit"\} (\d+)$/m)).toBe(
      hits + 1,
    );
    expect(podLinks(p.ns.name).sort()).toEqual(['eth0', 'net1']);
    expect((await p.call('DEL')).status).toBe(0);
    expect(caches(p.cid)).toEqual([]);
  });

  it('a pod the watch has not delivered yet is read through the API', async () => {
    api.pauseWatches();
    let p: Pod;
    try {
      p = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
      const from = api.log.length;
      const r = await p.call('ADD');
      expect(r.status, r.stdout).toBe(0);
      expect(gets(from).map((g) => g.path)).toEqual([`/api/v1/namespaces/default/pods/${p.name}`]);
      expect(networkStatus(p)).toHaveLength(2);
    } finally {
      api.resumeWatches();
    }
    expect((await p.call('DEL')).status).toBe(0);
  });

  it('a NAD changed through the watch is used by the next ADD, without a GET', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('the pod is in the watch', () => inWatch(p));
    api.addNad('default', 'dk-net', nadConfig('10.72.9.0/24'));
    await until('the new NAD is in the watch', () =>
      JSON.stringify(kube.nads.get('default', 'dk-net') ?? {}).includes('10.72.9.'),
    );
    const from = api.log.length;
    const r = await p.call('ADD');
    expect(r.status, r.stdout).toBe(0);
    expect(gets(from)).toEqual([]);
    expect(networkStatus(p)?.[1]?.ips?.[0]).toMatch(/^10\.72\.9\./);
    expect((await p.call('DEL')).status).toBe(0);
    api.addNad('default', 'dk-net', nadConfig('10.72.1.0/24'));
  });

  it('a broken watch and a 410 recover: the caches are warm again, the relist counted', async () => {
    const lists = kube.pods.stats.lists;
    api.breakWatches();
    api.addPod({ namespace: 'default', name: uniq('elsewhere-'), nodeName: 'node9' });
    api.compact();
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('relisted and synced', () => kube.pods.stats.lists > lists && kube.pods.synced && inWatch(p));
    expect(await metric(/^manifold_kube_watch_lists_total\{resource="pods"\} (\d+)$/m)).toBeGreaterThan(
      lists,
    );
    expect(await metric(/^manifold_kube_watch_synced\{resource="pods"\} (\d+)$/m)).toBe(1);
    await until('the NAD watch is back', () => kube.nads.synced);
    const from = api.log.length;
    const r = await p.call('ADD');
    expect(r.status, r.stdout).toBe(0);
    expect(gets(from)).toEqual([]);
    expect((await p.call('DEL')).status).toBe(0);
  });
});

describe('a DEL never waits for the API', () => {
  it('with the API server stopped: from the cache file, and from the watch cache when the file is unreadable; no request', async () => {
    const a = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    const b = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('the pods are in the watch', () => inWatch(a) && inWatch(b));
    expect((await a.call('ADD')).status).toBe(0);
    expect((await b.call('ADD')).status).toBe(0);
    expect(reservations(b.cid)).toHaveLength(2);
    for (const f of caches(b.cid)) writeFileSync(join(cniDir, f), '{"kind": "manifoldCacheV3", "trunc');
    await api.stop();
    try {
      await until('the watch knows it is down', () => !kube.pods.synced);
      const before = sent.length;
      const ra = await a.call('DEL');
      expect(ra.status, ra.stdout).toBe(0);
      const rb = await b.call('DEL');
      expect(rb.status, rb.stdout).toBe(0);
      expect(sent.slice(before)).toEqual([]);
      expect(podLinks(a.ns.name)).toEqual([]);
      expect(podLinks(b.ns.name)).toEqual([]);
      // the NAD attachment's address too: known from the watch cache's pod and NAD
      expect(reservations(a.cid)).toEqual([]);
      expect(reservations(b.cid)).toEqual([]);
      expect(caches(b.cid)).toEqual([]);
    } finally {
      await api.start(api.port);
    }
    await until('synced again', () => kube.pods.synced && kube.nads.synced);
  });
});

describe('garbage collection', () => {
  it("frees the attachment of a pod deleted from the API after the grace, leaves a live pod's alone, counts it", async () => {
    const gone = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    const live = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('the pods are in the watch', () => inWatch(gone) && inWatch(live));
    expect((await gone.call('ADD')).status).toBe(0);
    expect((await live.call('ADD')).status).toBe(0);
    expect(reservations(gone.cid)).toHaveLength(2);
    const freed = gc.freed;
    api.deletePod('default', gone.name);
    await until('the deletion is in the watch', () => !inWatch(gone));
    // within the grace: nothing
    expect(await gc.sweep()).toBe(0);
    expect(caches(gone.cid)).toHaveLength(1);
    await until('collected', async () => (await gc.sweep()) > 0 || gc.freed > freed);
    expect(gc.freed).toBe(freed + 1);
    expect(podLinks(gone.ns.name)).toEqual([]);
    expect(reservations(gone.cid)).toEqual([]);
    expect(caches(gone.cid)).toEqual([]);
    expect(logs.some((l) => l.includes(gone.cid) && l.includes('no longer exists'))).toBe(true);
    expect(await metric(/^manifold_gc_freed_total (\d+)$/m)).toBe(freed + 1);
    // the live pod: untouched
    expect(podLinks(live.ns.name).sort()).toEqual(['eth0', 'net1']);
    expect(reservations(live.cid)).toHaveLength(2);
    expect(caches(live.cid)).toHaveLength(1);
    expect((await live.call('DEL')).status).toBe(0);
  });

  it('collects nothing while the pod watch is unsynced, and collects once it is back', async () => {
    const p = pod({ 'k8s.v1.cni.cncf.io/networks': 'dk-net' });
    await until('the pod is in the watch', () => inWatch(p));
    expect((await p.call('ADD')).status).toBe(0);
    api.deletePod('default', p.name);
    await until('the deletion is in the watch', () => !inWatch(p));
    await api.stop();
    let skipped = 0;
    try {
      await until('unsynced', () => !kube.pods.synced);
      const start = performance.now();
      // past the grace, the pod gone from the watch: only the sync state holds it back
      await until('past the grace', () => performance.now() - start > 2 * GRACE_MS);
      skipped = gc.skippedUnsynced;
      expect(await gc.sweep()).toBe(0);
      expect(gc.skippedUnsynced).toBe(skipped + 1);
      expect(caches(p.cid)).toHaveLength(1);
      expect(podLinks(p.ns.name).sort()).toEqual(['eth0', 'net1']);
    } finally {
      await api.start(api.port);
    }
    await until('synced again', () => kube.pods.synced);
    await until('collected', async () => (await gc.sweep()) > 0 || caches(p.cid).length === 0);
    expect(podLinks(p.ns.name)).toEqual([]);
    expect(reservations(p.cid)).toEqual([]);
  });

  it("keeps an attachment whose pod the API server still has (not in this node's watch: a wrong --node-name)", async () => {
    const name = uniq('dkp-');
    api.addPod({ namespace: 'default', name, uid: `uid-${name}`, nodeName: 'node7' });
    const p = pod({}, false);
    const env = {
      CNI_CONTAINERID: p.cid,
      CNI_NETNS: p.ns.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${p.cid};K8S_POD_UID=uid-${name}`,
    };
    const r = await cniCall(socket, 'manifold', { ...env, CNI_COMMAND: 'ADD' }, metaConf);
    expect(r.json?.status, r.json?.stdout).toBe(0);
    const unconfirmed = gc.unconfirmed;
    const start = performance.now();
    await until('past the grace', () => performance.now() - start > 2 * GRACE_MS);
    expect(await gc.sweep()).toBe(0);
    expect(gc.unconfirmed).toBe(unconfirmed + 1);
    expect(caches(p.cid)).toHaveLength(1);
    expect(podLinks(p.ns.name)).toEqual(['eth0']);
    expect(logs.some((l) => l.includes(p.cid) && l.includes('does not confirm'))).toBe(true);
    expect((await cniCall(socket, 'manifold', { ...env, CNI_COMMAND: 'DEL' }, metaConf)).json?.status).toBe(
      0,
    );
  });

  it("never collects an attachment that is not a pod's", async () => {
    const p = pod({}, false);
    const name = uniq('plain-');
    const r = await cniCall(
      socket,
      'manifold',
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: p.cid,
        CNI_NETNS: p.ns.path,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/opt/cni/bin',
      },
      { ...metaConf, name },
    );
    expect(r.json?.status, r.json?.stdout).toBe(0);
    await new Promise((res) => setTimeout(res, GRACE_MS * 2));
    await gc.sweep();
    expect(caches(p.cid)).toHaveLength(1);
    expect(podLinks(p.ns.name).sort()).toEqual(['eth0']);
    const d = await cniCall(
      socket,
      'manifold',
      {
        CNI_COMMAND: 'DEL',
        CNI_CONTAINERID: p.cid,
        CNI_NETNS: p.ns.path,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/opt/cni/bin',
      },
      { ...metaConf, name },
    );
    expect(d.json?.status).toBe(0);
  });
});

describe('manifold daemon, the command', () => {
  it('watches with --kubeconfig and --node-name; without credentials or node name it says so once and serves', async () => {
    const { spawnDaemon, serving, killHard } = await import('../helpers/daemon-proc.ts');
    const sock = join(work, 'cmd', 'manifold.sock');
    const d = spawnDaemon(sock, [
      '--kubeconfig',
      kubeconfig,
      '--node-name',
      NODE,
      '--cni-dir',
      join(work, 'cmd-cache'),
    ]);
    try {
      await serving(sock, d);
      expect(d.stderr).toMatch(/watching the pods of node node1 and the NADs/);
      await until('synced', async () =>
        /^manifold_kube_watch_synced\{resource="pods"\} 1$/m.test(
          (await httpCall(sock, 'GET', '/metrics')).body,
        ),
      );
      const text = (await httpCall(sock, 'GET', '/metrics')).body;
      expect(text).toMatch(/^manifold_kube_watch_synced\{resource="network-attachment-definitions"\} 1$/m);
      expect(text).toMatch(/^manifold_gc_freed_total 0$/m);
      expect(d.stderr).not.toMatch(/no Kubernetes watches/);
    } finally {
      await killHard(d);
    }
    const sock2 = join(work, 'cmd2', 'manifold.sock');
    const bare = spawnDaemon(sock2, []);
    try {
      await serving(sock2, bare);
      const text = (await httpCall(sock2, 'GET', '/metrics')).body;
      expect(text).not.toMatch(/manifold_kube_watch/);
      expect(bare.stderr.match(/no Kubernetes watches: no credentials .*, no node name/g)).toHaveLength(1);
    } finally {
      await killHard(bare);
    }
  });
});
