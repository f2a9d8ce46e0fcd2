/**
 * The Kubernetes client against a local HTTPS stand-in of the API server (real TLS, a real
 * kubeconfig), and the pod-resources client against a local gRPC server on a unix socket.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../test/helpers/fake-apiserver.ts';
import { FakePodResources } from '../../test/helpers/fake-podresources.ts';
import { makePki } from '../../test/helpers/pki.ts';
import { scratchDir } from '../../test/helpers/scratch.ts';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import { createPodEvent, getNad, getPod, patchPodAnnotation } from './api.ts';
import { checkpointDevices } from './checkpoint.ts';
import { Budget, KubeClient } from './client.ts';
import { allocatedDevices } from './devices.ts';
import { ApiError, UnreachableError } from './errors.ts';
import { inClusterSource } from './incluster.ts';
import { kubeconfigSource, readKubeconfig } from './kubeconfig.ts';
import { devicesFromList, encodeGetRequest, podResourcesDevices } from './podresources.ts';
import { lenField, readFields, varintField } from './protobuf.ts';

const pki = makePki();
const api = new FakeApiServer(pki);
const dir = scratchDir('mf-k8s-');

beforeAll(async () => {
  await api.start();
  api.tokens.add('t0');
  api.addPod({ namespace: 'default', name: 'p1', uid: 'u1', annotations: { a: 'b' } });
  api.addNad('default', 'mv', { cniVersion: '1.0.0', type: 'macvlan' });
});
afterAll(() => api.stop());

function client(kubeconfig: string, seconds = 5): KubeClient {
  return new KubeClient(kubeconfigSource(kubeconfig), new Budget(seconds * 1000));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('kubeconfig', () => {
  it('reads the current context: server, CA file, token', async () => {
    const kc = join(dir, 'token.kubeconfig');
    api.writeKubeconfig(kc, { token: 't0' });
    const t = await readKubeconfig(kc);
    expect(t.server).toBe(api.url);
    expect(t.ca?.equals(pki.ca)).toBe(true);
    expect(t.token).toBe('t0');
  });

  it('reads *-data fields, tokenFile and paths relative to the file', async () => {
    writeFileSync(join(dir, 'tok'), '  t-file\n');
    const kc = join(dir, 'data.kubeconfig');
    writeFileSync(
      kc,
      [
        'apiVersion: v1',
        'clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: ' +
          `${pki.ca.toString('base64')}, tls-server-name: kubernetes}}]`,
        `users: [{name: u, user: {tokenFile: tok, client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key-data: ${Buffer.from('KEY').toString('base64')}}}]`,
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const t = await readKubeconfig(kc);
    expect(t.server).toBe('https://10.0.0.1:6443');
    expect(t.ca?.equals(pki.ca)).toBe(true);
    expect(t.token).toBe('t-file');
    expect(t.cert?.toString()).toBe('CERT');
    expect(t.key?.toString()).toBe('KEY');
    expect(t.tlsServerName).toBe('kubernetes');
  });

  it('reads a JSON kubeconfig (what install writes) the same way', async () => {
    const kc = join(dir, 'json.kubeconfig');
    writeFileSync(
      kc,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: api.url, 'certificate-authority': pki.caFile } }],
        users: [{ name: 'u', user: { token: 'j' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    expect(await readKubeconfig(kc)).toMatchObject({ server: api.url, token: 'j' });
  });

  it.each([
    ['current-context: nope\ncontexts: []', /current-context "nope" is not in contexts/],
    ['contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x', /cluster "c" is not in clusters/],
    [
      'clusters: [{name: c, cluster: {server: s, certificate-authority: /no/such}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x',
      /certificate-authority: cannot read "\/no\/such"/,
    ],
    [
      'clusters: [{name: c, cluster: {server: s}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x',
      /exec and auth-provider credentials are not supported/,
    ],
    ['a: [unclosed', /not valid YAML/],
  ])('refuses %j (code 7)', async (text, msg) => {
    const kc = join(dir, 'bad.kubeconfig');
    writeFileSync(kc, text);
    const e = await cniRejectionOf(readKubeconfig(kc));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(msg);
  });
});

describe('requests', () => {
  it('GETs a pod and a NAD; 404 is undefined', async () => {
    const kc = join(dir, 'k1');
    api.writeKubeconfig(kc, { token: 't0' });
    const c = client(kc);
    expect((await getPod(c, 'default', 'p1'))?.metadata.uid).toBe('u1');
    expect(await getPod(c, 'default', 'nope')).toBeUndefined();
    expect((await getNad(c, 'default', 'mv'))?.spec?.config).toContain('macvlan');
    expect(await getNad(c, 'default', 'nope')).toBeUndefined();
    c.close();
  });

  it('authenticates with a client certificate', async () => {
    const kc = join(dir, 'cert');
    api.writeKubeconfig(kc, { clientCert: true });
    const c = client(kc);
    expect((await getPod(c, 'default', 'p1'))?.metadata.name).toBe('p1');
    expect(api.log.at(-1)?.auth).toBe('cert');
    c.close();
  });

  it('401 without a valid token is an ApiError, not retried', async () => {
    const kc = join(dir, 'bad-token');
    api.writeKubeconfig(kc, { token: 'wrong' });
    const before = api.log.length;
    const err = await rejection(getPod(client(kc), 'default', 'p1'));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).reason).toBe('Unauthorized');
    expect(api.log.length - before).toBe(1);
  });

  it('reads a rotated token file on the next request', async () => {
    const tok = join(dir, 'rotating');
    writeFileSync(tok, 't0');
    const kc = join(dir, 'rot');
    api.writeKubeconfig(kc, { tokenFile: tok });
    const c = client(kc);
    expect(await getPod(c, 'default', 'p1')).toBeDefined();
    api.tokens.add('t1');
    api.tokens.delete('t0');
    writeFileSync(tok, 't1\n');
    expect(await getPod(c, 'default', 'p1')).toBeDefined();
    expect(api.log.at(-1)?.auth).toBe('token:t1');
    api.tokens.add('t0');
    c.close();
  });

  it('retries 5xx, then answers', async () => {
    const kc = join(dir, 'k2');
    api.writeKubeconfig(kc, { token: 't0' });
    api.failNext = { count: 2, code: 503 };
    const before = api.log.length;
    expect(await getPod(client(kc), 'default', 'p1')).toBeDefined();
    expect(api.log.slice(before).map((l) => l.status)).toEqual([503, 503, 200]);
  });

  it('gives up within the budget when the server never answers', async () => {
    const down = new FakeApiServer(pki);
    await down.start();
    const kc = join(dir, 'down');
    down.writeKubeconfig(kc, { token: 't0' });
    await down.stop();
    const err = await rejection(getPod(client(kc, 1), 'default', 'p1'));
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as UnreachableError).attempts).toBeGreaterThan(1);
    expect((err as Error).message).toMatch(
      /did not answer GET \/api\/v1\/namespaces\/default\/pods\/p1 in \d+\.\d s \(\d+ attempts, budget 1\.0 s\)/,
    );
  });

  it('refuses a server whose certificate the CA did not sign (code 7, no retries)', async () => {
    const other = makePki();
    const kc = join(dir, 'wrong-ca');
    api.writeKubeconfig(kc, { token: 't0' });
    writeFileSync(kc, (await import('node:fs')).readFileSync(kc, 'utf8').replace(pki.caFile, other.caFile));
    const e = await rejection(getPod(client(kc), 'default', 'p1'));
    expect((e as { code?: number }).code).toBe(7);
    expect((e as Error).message).toMatch(/cannot talk to https:\/\/127\.0\.0\.1/);
  });

  it('writes an annotation with one merge patch of pods/status, the uid as precondition', async () => {
    const kc = join(dir, 'k3');
    api.writeKubeconfig(kc, { token: 't0' });
    const c = client(kc);
    const before = api.log.length;
    expect(await patchPodAnnotation(c, 'default', 'p1', 'u1', 'k', 'v')).toBe('written');
    expect(api.annotation('default', 'p1', 'k')).toBe('v');
    expect(api.annotation('default', 'p1', 'a')).toBe('b');
    // no read first: one request
    expect(api.log.slice(before).map((l) => `${l.method} ${l.path} ${l.status}`)).toEqual([
      'PATCH /api/v1/namespaces/default/pods/p1/status 200',
    ]);
    expect(await patchPodAnnotation(c, 'default', 'gone', undefined, 'k', 'v')).toBe('gone');
    // another pod of the same name: 409 from the uid precondition, nothing written
    expect(await patchPodAnnotation(c, 'default', 'p1', 'other-uid', 'k', 'v2')).toBe('gone');
    expect(api.annotation('default', 'p1', 'k')).toBe('v');
    c.close();
  });

  it('creates core/v1 events about a pod', async () => {
    const kc = join(dir, 'k4');
    api.writeKubeconfig(kc, { token: 't0' });
    const c = client(kc);
    await createPodEvent(c, {
      pod: { namespace: 'default', name: 'p1', uid: 'u1' },
      type: 'Normal',
      reason: 'AddedInterface',
      message: 'Add net1 [10.1.2.3/24] from default/mv',
      component: 'manifold',
      host: 'node1',
    });
    expect(api.events.at(-1)).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'default', name: expect.stringMatching(/^p1\.[0-9a-f]+$/) },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'p1', uid: 'u1' },
      type: 'Normal',
      reason: 'AddedInterface',
      message: 'Add net1 [10.1.2.3/24] from default/mv',
      source: { component: 'manifold', host: 'node1' },
      count: 1,
    });
    c.close();
  });

  it('in-cluster: service host/port and the service account files, re-read per request', async () => {
    const sa = scratchDir('mf-sa-');
    writeFileSync(join(sa, 'token'), 't0');
    writeFileSync(join(sa, 'ca.crt'), pki.ca);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
    const c = new KubeClient(inClusterSource(env, sa), new Budget(5000));
    expect(await getPod(c, 'default', 'p1')).toBeDefined();
    expect(
      (await inClusterSource({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa)())
        .server,
    ).toBe('https://[fd00::1]:443');
    c.close();
  });
});

describe('pod-resources and the checkpoint', () => {
  const socket = join(dir, 'kubelet.sock');
  const kubelet = new FakePodResources(socket);
  beforeAll(async () => {
    kubelet.pods = [
      { namespace: 'default', name: 'other', containers: { c: { 'intel.com/sriov': ['0000:01:10.7'] } } },
      {
        namespace: 'default',
        name: 'p1',
        containers: {
          a: { 'intel.com/sriov': ['0000:01:10.3', '0000:01:10.1'], 'nvidia.com/gpu': ['GPU-1'] },
          b: { 'intel.com/sriov': ['0000:01:10.2'] },
        },
      },
    ];
    await kubelet.start();
  });
  afterAll(() => kubelet.stop());

  it('Get answers for one pod', async () => {
    const r = await podResourcesDevices(socket, 'default', 'p1', 2000);
    expect(r.method).toBe('Get');
    expect(r.devices.get('intel.com/sriov')).toEqual(['0000:01:10.3', '0000:01:10.1', '0000:01:10.2']);
    expect(r.devices.get('nvidia.com/gpu')).toEqual(['GPU-1']);
  });

  it('List when Get is unimplemented; sorted, distinct IDs', async () => {
    kubelet.withGet = false;
    const r = await allocatedDevices(
      { socket, checkpoint: '/nonexistent', timeoutMs: 2000 },
      { namespace: 'default', name: 'p1', uid: 'u1' },
    );
    kubelet.withGet = true;
    expect(r.from).toMatch(/pod-resources List/);
    expect(r.devices.get('intel.com/sriov')).toEqual(['0000:01:10.1', '0000:01:10.2', '0000:01:10.3']);
    expect(kubelet.calls.slice(-2)).toEqual(['/v1.PodResourcesLister/Get', '/v1.PodResourcesLister/List']);
  });

  it('reads the checkpoint (both DeviceIDs forms) when the socket is missing', async () => {
    const cp = join(dir, 'kubelet_internal_checkpoint');
    writeFileSync(
      cp,
      JSON.stringify({
        Data: {
          PodDeviceEntries: [
            {
              PodUID: 'u1',
              ContainerName: 'a',
              ResourceName: 'intel.com/sriov',
              DeviceIDs: { '0': ['0000:02:00.2'], '1': ['0000:02:00.1'] },
              AllocResp: 'Cg==',
            },
            {
              PodUID: 'u1',
              ContainerName: 'b',
              ResourceName: 'intel.com/sriov',
              DeviceIDs: ['0000:02:00.1'],
            },
            {
              PodUID: 'u2',
              ContainerName: 'a',
              ResourceName: 'intel.com/sriov',
              DeviceIDs: { '0': ['0000:02:00.9'] },
            },
          ],
          RegisteredDevices: {},
        },
        Checksum: 1,
      }),
    );
    expect(checkpointDevices(cp, 'u1').get('intel.com/sriov')?.sort()).toEqual([
      '0000:02:00.1',
      '0000:02:00.1',
      '0000:02:00.2',
    ]);
    const r = await allocatedDevices(
      { socket: join(dir, 'none.sock'), checkpoint: cp, timeoutMs: 1000 },
      { namespace: 'default', name: 'p1', uid: 'u1' },
    );
    expect(r.devices.get('intel.com/sriov')).toEqual(['0000:02:00.1', '0000:02:00.2']);
    const e = await rejection(
      allocatedDevices(
        { socket: join(dir, 'none.sock'), checkpoint: join(dir, 'none'), timeoutMs: 1000 },
        { namespace: 'd', name: 'p', uid: 'u' },
      ),
    );
    expect((e as { code?: number }).code).toBe(11);
  });

  it('skips fields it does not know (newer kubelets)', () => {
    const pod = Buffer.concat([
      lenField(1, 'p1'),
      lenField(2, 'default'),
      varintField(4, 300),
      lenField(
        3,
        Buffer.concat([
          lenField(1, 'a'),
          varintField(3, 7),
          lenField(2, Buffer.concat([lenField(1, 'r'), lenField(2, 'id1'), lenField(3, 'topology')])),
        ]),
      ),
    ]);
    expect(devicesFromList(lenField(1, pod), 'default', 'p1').get('r')).toEqual(['id1']);
    expect(readFields(encodeGetRequest('n', 'ns')).map((f) => f.no)).toEqual([1, 2]);
    expect(() => readFields(Buffer.from([0x0a, 0x05, 0x61]))).toThrow(/runs past the end/);
  });
});
