/**
 * The cluster-side objects of the DRA example (conf.d-examples/dra: DeviceClass,
 * ResourceClaimTemplate, NAD, pod) checked offline: the built-in kinds against the API's
 * OpenAPI schemas that kubernetes-models bundles (resource.k8s.io/v1 is there), the NAD against
 * deploy/crd.yaml's kind and by `manifold validate`; and against each other: the pod's
 * claim names the template, the template the class, its selector the NAD's resource name.
 * Also: a ResourceClaim carrying status.devices as manifold applies it validates against the
 * real schema (AllocatedDeviceStatus, NetworkDeviceData).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { claimStatusApply } from '../../src/k8s/dra.ts';
import { cli } from '../helpers/cli.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, read field by field
type Obj = Record<string, any>;
const DIR = 'conf.d-examples/dra';
const docs = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);

async function model(path: string): Promise<new (o: Obj) => { validate(): void }> {
  const name = path.split('/').at(-1) as string;
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${path}`)) as Record<
    string,
    new (
      o: Obj,
    ) => { validate(): void }
  >;
  const Cls = mod[name];
  if (!Cls) throw new Error(`kubernetes-models/${path} has no export ${name}`);
  return Cls;
}

const all = readdirSync(DIR).flatMap((f) => docs(join(DIR, f)).map((d) => ({ file: f, d })));
const byKind = (kind: string) => all.find((x) => x.d.kind === kind)?.d as Obj;
const NAD_FILE = join(DIR, 'nad.yaml');

describe('conf.d-examples/dra', () => {
  it('every object validates against its kind’s schema; a broken one does not', async () => {
    expect(all.map((x) => `${x.d.apiVersion} ${x.d.kind}`).sort()).toEqual([
      'k8s.cni.cncf.io/v1 NetworkAttachmentDefinition',
      'resource.k8s.io/v1 DeviceClass',
      'resource.k8s.io/v1 ResourceClaimTemplate',
      'v1 Pod',
    ]);
    for (const { file, d } of all.filter((x) => x.d.kind !== 'NetworkAttachmentDefinition')) {
      const Cls = await model(`${d.apiVersion === 'v1' ? 'v1' : d.apiVersion}/${d.kind}`);
      expect(() => new Cls(d).validate(), file).not.toThrow();
    }
    const Tpl = await model('resource.k8s.io/v1/ResourceClaimTemplate');
    const broken = structuredClone(byKind('ResourceClaimTemplate'));
    broken.spec.spec.devices.requests[0].exactly.count = 'two';
    expect(() => new Tpl(broken).validate()).toThrow(/count/);
  });

  it("the NAD is deploy/crd.yaml's kind and `manifold validate` finds its config sound", async () => {
    const crd = docs('deploy/crd.yaml')[0] as Obj;
    const nad = byKind('NetworkAttachmentDefinition');
    expect(`${nad.apiVersion} ${nad.kind}`).toBe(
      `${crd.spec.group}/${crd.spec.versions[0].name} ${crd.spec.names.kind}`,
    );
    expect(typeof nad.spec.config).toBe('string');
    const r = await cli(['validate', NAD_FILE]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('NetworkAttachmentDefinition default/sriov-dra spec.config: ok');
  });

  it('hang together: pod → template → class, the selector’s resource name is the NAD’s', () => {
    const pod = byKind('Pod');
    const tpl = byKind('ResourceClaimTemplate');
    const cls = byKind('DeviceClass');
    const nad = byKind('NetworkAttachmentDefinition');
    expect(pod.spec.resourceClaims[0].resourceClaimTemplateName).toBe(tpl.metadata.name);
    const req = tpl.spec.spec.devices.requests[0].exactly;
    expect(req.deviceClassName).toBe(cls.metadata.name);
    const resource = nad.metadata.annotations['k8s.v1.cni.cncf.io/resourceName'];
    expect(req.selectors[0].cel.expression).toContain(`.resourceName == "${resource}"`);
    const networks = pod.metadata.annotations['k8s.v1.cni.cncf.io/networks']
      .split(',')
      .map((s: string) => s.trim());
    expect(networks).toEqual([nad.metadata.name, nad.metadata.name]);
    expect(req.count).toBe(networks.length);
  });

  it("a claim with manifold's status.devices validates against the ResourceClaim schema", async () => {
    const Claim = await model('resource.k8s.io/v1/ResourceClaim');
    const applied = claimStatusApply(
      'dra-sriov-pod-vfs-x7k2p',
      'default',
      [
        {
          driver: 'sriovnetwork.k8snetworkplumbingwg.io',
          pool: 'node1',
          device: 'vf-0',
          interfaceName: 'net1',
          ips: ['10.41.0.2/24', 'fd00:41::2/64'],
          hardwareAddress: '02:00:00:00:00:01',
        },
      ],
      new Date(),
    );
    const claim = {
      ...applied,
      spec: byKind('ResourceClaimTemplate').spec.spec,
      status: {
        allocation: {
          devices: {
            results: [
              {
                request: 'vfs',
                driver: 'sriovnetwork.k8snetworkplumbingwg.io',
                pool: 'node1',
                device: 'vf-0',
              },
            ],
          },
        },
        ...(applied.status as Obj),
      },
    };
    expect(() => new Claim(claim).validate()).not.toThrow();
    const bad = structuredClone(claim) as Obj;
    bad.status.devices[0].networkData.ips = 'not a list';
    expect(() => new Claim(bad).validate()).toThrow(/ips/);
  });
});
