/**
 * manifold explain of a Kubernetes pod (--networks, --nad) equals what ADD does for that pod
 * through the API server: the pod's annotation (JSON form: an interface name, requested
 * addresses through the `ips` capability, a MAC, a default-route gateway) and its NADs
 * served by the local API-server stand-in, the very same NADs given to explain as a file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/cli/explain/explanation.ts';
import type { Result } from '../../src/cni/result.ts';
import { cli } from '../helpers/cli.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { makePki } from '../helpers/pki.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const work = mkdtempSync(join(tmpdir(), 'mf-explain-pod-'));
const dataDir = join(work, 'ipam');
const tokenFile = join(work, 'token');
const kubeconfig = join(work, 'kubeconfig');
const api = new FakeApiServer(makePki());
const hostLocal = (subnet: string, routes: object[] = []) => ({
  type: 'host-local',
  dataDir,
  ranges: [[{ subnet }]],
  routes,
});
const NADS: [string, object][] = [
  [
    'mv-a',
    {
      cniVersion: '1.0.0',
      type: 'macvlan',
      master: 'ep1',
      capabilities: { ips: true, mac: true },
      ipam: hostLocal('10.77.1.0/24'),
    },
  ],
  [
    'mv-b',
    {
      cniVersion: '1.0.0',
      type: 'macvlan',
      master: 'ep1',
      ipam: hostLocal('10.77.2.0/24', [{ dst: '0.0.0.0/0' }]),
    },
  ],
];

beforeAll(async () => {
  await api.start();
  api.tokens.add('t1');
  writeFileSync(tokenFile, 't1\n');
  api.writeKubeconfig(kubeconfig, { tokenFile });
  for (const m of ['ep0', 'ep1']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
  for (const [name, config] of NADS) api.addNad('default', name, config);
  // the same NADs as a file, as `kubectl get net-attach-def -o yaml` would give them
  writeFileSync(
    join(work, 'nads.json'),
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: NADS.map(([name, config]) => ({
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name, namespace: 'default' },
        spec: { config: JSON.stringify(config) },
      })),
    }),
  );
});
afterAll(async () => {
  await api.stop();
  rmSync(work, { recursive: true, force: true });
});

const comparable = (r: Result) => ({
  interfaces: (r.interfaces ?? []).filter((i) => i.sandbox).map((i) => i.name),
  mac: (r.interfaces ?? []).find((i) => i.name === 'data0')?.mac ?? null,
  ips: (r.ips ?? []).map((i) => [i.address, i.gateway ?? null, i.interface ?? null]),
  routes: (r.routes ?? []).map((x) => [x.dst, x.gw ?? null]),
});

describe('explain of a pod, then its ADD', () => {
  it('annotation and NADs: interface names, requested address and MAC, the default route', async () => {
    const conf = {
      cniVersion: '1.0.0',
      name: 'k8s-pods',
      type: 'manifold',
      kubeconfig,
      cniDir: join(work, 'cache'),
      kubeApiTimeoutSeconds: 2,
      delegates: [
        {
          cniVersion: '1.0.0',
          name: 'cluster',
          type: 'macvlan',
          master: 'ep0',
          ipam: hostLocal('10.77.0.0/24', [{ dst: '0.0.0.0/0' }]),
        },
      ],
    };
    const annotation = JSON.stringify([
      { name: 'mv-a', interface: 'data0', ips: ['10.77.1.42/24'], mac: '0a:58:0a:4d:01:2a' },
      { name: 'mv-b', 'default-route': ['10.77.2.1'] },
    ]);
    const name = uniq('pod-');
    api.addPod({
      namespace: 'default',
      name,
      uid: `uid-${name}`,
      annotations: { 'k8s.v1.cni.cncf.io/networks': annotation },
    });
    const ns = newNetns();
    const cid = uniq('c');
    const file = join(work, 'meta.conf');
    writeFileSync(file, JSON.stringify(conf));
    const e = await cli([
      'explain',
      '--json',
      '--container-id',
      cid,
      '--netns',
      ns.path,
      '--networks',
      annotation,
      '--nad',
      join(work, 'nads.json'),
      file,
    ]);
    expect(e.code, e.out + e.err).toBe(0);
    const predicted = JSON.parse(e.out) as Explanation;
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: cid,
      CNI_NETNS: ns.path,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=uid-${name}`,
    };
    const add = await runWith(builtinLoader('manifold'), env, JSON.stringify(conf));
    expect(add.code, add.stdout).toBe(0);
    const actual = add.json as unknown as Result;
    expect(comparable(actual)).toEqual(comparable(predicted.result));
    expect(comparable(predicted.result)).toEqual({
      interfaces: ['eth0', 'data0', 'net2'],
      mac: '0a:58:0a:4d:01:2a',
      ips: [
        ['10.77.0.2/24', '10.77.0.1', 0],
        ['10.77.1.42/24', '10.77.1.1', 1],
        ['10.77.2.2/24', '10.77.2.1', 2],
      ],
      routes: [['0.0.0.0/0', '10.77.2.1']],
    });
    const del = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'DEL' },
      JSON.stringify(conf),
    );
    expect(del.code, del.stdout).toBe(0);
  });
});
