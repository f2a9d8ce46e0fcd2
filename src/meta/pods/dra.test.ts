/**
 * The DRA pieces that need no API server: which claim devices a NAD's resource matches (and
 * in which order), the pod's claim names, the network data taken from a delegate's result,
 * and the server-side-apply body of the claim's status.
 */
import { describe, expect, it } from 'vitest';
import { claimStatusApply, type ResourceClaim, type ResourceSlice } from '../../k8s/dra.ts';
import { claimDevices, podClaimRefs, sliceIndex } from './dra-devices.ts';
import { entriesByClaim, networkDataOf } from './dra-status.ts';

const D = 'sriovnetwork.k8snetworkplumbingwg.io';
const slice = (devices: ResourceSlice['spec']['devices'], pool = 'p0'): ResourceSlice => ({
  metadata: { name: `s-${pool}` },
  spec: { driver: D, pool: { name: pool }, nodeName: 'n1', devices },
});
const claim = (name: string, devices: string[], pool = 'p0'): ResourceClaim => ({
  metadata: { name },
  status: { allocation: { devices: { results: devices.map((device) => ({ driver: D, pool, device })) } } },
});
const net = (resource: string, pci: string, attr = 'k8s.cni.cncf.io/deviceID') => ({
  'k8s.cni.cncf.io/resourceName': { string: resource },
  [attr]: { string: pci },
});

describe('claimDevices', () => {
  const index = sliceIndex([
    slice([
      { name: 'a', attributes: net('r/vf', '0000:01:00.1') },
      { name: 'b', attributes: net('r/vf', '0000:01:00.2', 'resource.kubernetes.io/pciBusID') },
      { name: 'c', attributes: net('r/vf', '0000:01:00.3', `${D}/pciAddress`) },
      { name: 'no-pci', attributes: { 'k8s.cni.cncf.io/resourceName': { string: 'r/vf' } } },
      { name: 'no-name', attributes: { 'k8s.cni.cncf.io/deviceID': { string: '0000:01:00.5' } } },
    ]),
    slice([{ name: 'a', attributes: net('r/other', '0000:09:00.1') }], 'p1'),
  ]);

  it('claims in pod order, results in allocation order; the PCI address from any of the three attributes', () => {
    const got = claimDevices('ns', [claim('c2', ['c', 'a']), claim('c1', ['b'])], index);
    expect(got.map((d) => [d.claim, d.device, d.pciAddress, d.resourceName])).toEqual([
      ['c2', 'c', '0000:01:00.3', 'r/vf'],
      ['c2', 'a', '0000:01:00.1', 'r/vf'],
      ['c1', 'b', '0000:01:00.2', 'r/vf'],
    ]);
  });

  it('skips devices without a resource name or a PCI address, and devices of no slice of the node', () => {
    const got = claimDevices('ns', [claim('c', ['no-pci', 'no-name', 'gone'])], index);
    expect(got).toEqual([]);
  });

  it('tells pools apart: the same device name in another pool is another device', () => {
    const got = claimDevices('ns', [claim('c', ['a'], 'p1')], index);
    expect(got.map((d) => [d.pool, d.resourceName, d.pciAddress])).toEqual([
      ['p1', 'r/other', '0000:09:00.1'],
    ]);
  });

  it('an unallocated claim gives nothing', () => {
    expect(claimDevices('ns', [{ metadata: { name: 'x' }, status: {} }], index)).toEqual([]);
  });
});

describe('podClaimRefs', () => {
  it("a direct claim by its name, a template's by the generated name; a template's not generated yet has none", () => {
    const pod = {
      spec: {
        resourceClaims: [
          { name: 'direct', resourceClaimName: 'shared-vfs' },
          { name: 'tpl', resourceClaimTemplateName: 'two-vfs' },
          { name: 'later', resourceClaimTemplateName: 'two-vfs' },
        ],
      },
      status: { resourceClaimStatuses: [{ name: 'tpl', resourceClaimName: 'pod-tpl-abcde' }] },
    };
    expect(podClaimRefs(pod)).toEqual([
      { podClaimName: 'direct', claimName: 'shared-vfs' },
      { podClaimName: 'tpl', claimName: 'pod-tpl-abcde' },
      { podClaimName: 'later', claimName: undefined },
    ]);
    expect(podClaimRefs({ metadata: { name: 'p' } })).toEqual([]);
  });
});

describe('network data', () => {
  const dra = { namespace: 'ns', claim: 'c', driver: D, pool: 'p0', device: 'a' };
  const result = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'vf0', mac: '02:00:00:00:00:01' },
      { name: 'net1', mac: '02:00:00:00:00:02', sandbox: '/var/run/netns/x' },
    ],
    ips: [
      { address: '10.0.0.5/24', interface: 1 },
      { address: 'fd00::5/64', interface: 1 },
      { address: '10.9.9.9/32', interface: 0 },
    ],
  };

  it("the pod interface's name, its CIDRs and MAC", () => {
    expect(networkDataOf({ ifname: 'net1', result, draDevice: dra })).toEqual({
      driver: D,
      pool: 'p0',
      device: 'a',
      interfaceName: 'net1',
      ips: ['10.0.0.5/24', 'fd00::5/64'],
      hardwareAddress: '02:00:00:00:00:02',
    });
    expect(networkDataOf({ ifname: 'net1', result, draDevice: undefined })).toBeUndefined();
  });

  it('at most 16 addresses; entries grouped per claim in attachment order', () => {
    const many = {
      cniVersion: '1.0.0',
      ips: Array.from({ length: 20 }, (_, i) => ({ address: `10.0.0.${i + 1}/24` })),
    };
    expect(networkDataOf({ ifname: 'net1', result: many, draDevice: dra })?.ips).toHaveLength(16);
    const grouped = entriesByClaim([
      { ifname: 'net1', result, draDevice: dra },
      { ifname: 'net2', result, draDevice: undefined },
      { ifname: 'net3', result, draDevice: { ...dra, claim: 'd', device: 'b' } },
      { ifname: 'net4', result, draDevice: { ...dra, device: 'c' } },
    ]);
    expect([...grouped].map(([k, v]) => [k, v.map((e) => `${e.device}:${e.interfaceName}`)])).toEqual([
      ['ns/c', ['a:net1', 'c:net4']],
      ['ns/d', ['b:net3']],
    ]);
  });
});

describe('claimStatusApply', () => {
  it('an apply body naming the claim, with only status.devices: each entry keyed, its networkData and Ready condition', () => {
    const body = claimStatusApply(
      'c',
      'ns',
      [
        {
          driver: D,
          pool: 'p0',
          device: 'a',
          interfaceName: 'net1',
          ips: ['10.0.0.5/24'],
          hardwareAddress: '02:00:00:00:00:02',
        },
        { driver: D, pool: 'p0', device: 'b', interfaceName: 'net2', ips: [] },
      ],
      new Date('2026-12-07T10:00:00.123Z'),
    );
    expect(body).toEqual({
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceClaim',
      metadata: { name: 'c', namespace: 'ns' },
      status: {
        devices: [
          {
            driver: D,
            pool: 'p0',
            device: 'a',
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'NetworkAttached',
                message: 'attached as net1 by manifold',
                lastTransitionTime: '2026-12-07T10:00:00Z',
              },
            ],
            networkData: {
              interfaceName: 'net1',
              ips: ['10.0.0.5/24'],
              hardwareAddress: '02:00:00:00:00:02',
            },
          },
          {
            driver: D,
            pool: 'p0',
            device: 'b',
            conditions: [expect.objectContaining({ type: 'Ready', message: 'attached as net2 by manifold' })],
            networkData: { interfaceName: 'net2' },
          },
        ],
      },
    });
  });

  it("an empty list: the body that removes the manager's entries", () => {
    expect(claimStatusApply('c', 'ns', [], new Date()).status).toEqual({ devices: [] });
  });
});
