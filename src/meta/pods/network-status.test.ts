/**
 * network-status entries as Multus builds them, from results of every shape, and the
 * per-attachment helpers (config injection, CNI_ARGS, capability arguments, namespace rules).
 */
import { describe, expect, it } from 'vitest';
import { cniErrorOf } from '../../../test/helpers/skel.ts';
import type { Result } from '../../cni/result.ts';
import { parseNetwork } from '../../invoke/network.ts';
import { parseMetaConf } from '../config.ts';
import type { Delegate } from '../delegates.ts';
import { capabilityArgsFor, cniArgsFor } from '../pod-attachment.ts';
import { checkIsolation, globalNamespaces } from './isolation.ts';
import { injectIntoNetwork } from './nad-delegate.ts';
import { buildNetworkStatus, formatNetworkStatus } from './network-status.ts';

function delegate(name: string, extra: Partial<Delegate> = {}): Delegate {
  return {
    network: parseNetwork({ cniVersion: '1.0.0', name, type: 'bridge' }, name, '1.0.0'),
    source: name,
    master: false,
    ifnameRequest: undefined,
    defaultRoute: false,
    ...extra,
  };
}

const BRIDGE: Result = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01' },
    { name: 'veth1', mac: '0a:00:00:00:00:02' },
    { name: 'eth0', mac: '0a:00:00:00:00:03', mtu: 1450, sandbox: '/run/netns/p' },
  ],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }, { dst: '192.0.2.0/24', gw: '10.1.0.9' }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

describe('network-status', () => {
  it('one entry per pod interface; default and gateways on the master; dns; device-info', () => {
    const parts = [
      { delegate: delegate('cbr0', { master: true }), result: BRIDGE },
      {
        delegate: delegate('vf', { k8s: { statusName: 'default/sriov', capabilityArgs: {}, cniArgs: [] } }),
        result: {
          cniVersion: '1.0.0',
          interfaces: [{ name: 'net1', sandbox: '/run/netns/p' }],
          ips: [{ address: '10.2.0.7/24' }],
          routes: [{ dst: '0.0.0.0/0', gw: '10.2.0.1' }],
        },
        deviceInfo: { type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:03:02.3' } },
      },
    ];
    expect(buildNetworkStatus(parts)).toEqual([
      {
        name: 'cbr0',
        interface: 'eth0',
        ips: ['10.1.0.5', 'fd00::5'],
        mac: '0a:00:00:00:00:03',
        mtu: 1450,
        default: true,
        dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        gateway: ['10.1.0.1', 'fd00::1'],
      },
      // not the master: its default route is not the pod's, so no gateway
      {
        name: 'default/sriov',
        interface: 'net1',
        ips: ['10.2.0.7'],
        dns: {},
        'device-info': { type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:03:02.3' } },
      },
    ]);
  });

  it('the default-route attachment reports the requested gateway; an IPAM-only result one entry', () => {
    const parts = [
      { delegate: delegate('cbr0', { master: true }), result: BRIDGE },
      {
        delegate: delegate('gw', { defaultRoute: true, gatewayRequest: ['10.3.0.254'] }),
        result: {
          cniVersion: '1.0.0',
          ips: [{ address: '10.3.0.4/24', gateway: '10.3.0.1' }],
          routes: [
            { dst: '0.0.0.0/0', gw: '10.3.0.1' },
            { dst: '::/0', gw: 'fd03::1' },
          ],
        },
      },
    ];
    const st = buildNetworkStatus(parts);
    expect(st[0]?.gateway).toBeUndefined();
    expect(st[1]).toEqual({ name: 'gw', ips: ['10.3.0.4'], dns: {}, gateway: ['10.3.0.254', 'fd03::1'] });
  });

  it('prints like Multus: a list of 4-space-indented objects', () => {
    expect(
      formatNetworkStatus([
        { name: 'a', dns: {} },
        { name: 'b', dns: {} },
      ]),
    ).toBe('[{\n    "name": "a",\n    "dns": {}\n},{\n    "name": "b",\n    "dns": {}\n}]');
  });
});

describe('per-attachment arguments', () => {
  it('puts deviceID/pciBusID and cni-args into the conf or every plugin of a conflist', () => {
    const list = { name: 'n', plugins: [{ type: 'sriov', args: { cni: { keep: 1 } } }, { type: 'tuning' }] };
    expect(injectIntoNetwork(list, '0000:01:10.1', { x: 'y' })).toEqual({
      name: 'n',
      plugins: [
        {
          type: 'sriov',
          deviceID: '0000:01:10.1',
          pciBusID: '0000:01:10.1',
          args: { cni: { keep: 1, x: 'y' } },
        },
        { type: 'tuning', deviceID: '0000:01:10.1', pciBusID: '0000:01:10.1', args: { cni: { x: 'y' } } },
      ],
    });
    expect(injectIntoNetwork({ type: 'macvlan' }, undefined, undefined)).toEqual({ type: 'macvlan' });
    expect(list.plugins[1]).toEqual({ type: 'tuning' });
  });

  it('CNI_ARGS IP=/MAC= replace the call’s; capability arguments: the runtime’s for the master only', () => {
    const k8s = {
      statusName: 's',
      capabilityArgs: { ips: ['10.0.0.5'] },
      cniArgs: [['IP', '10.0.0.5'] as const],
    };
    const args = new Map([
      ['K8S_POD_NAME', 'p'],
      ['IP', '10.9.9.9'],
    ]);
    expect(cniArgsFor(args, delegate('x', { k8s }))).toEqual([
      ['K8S_POD_NAME', 'p'],
      ['IP', '10.0.0.5'],
      ['IgnoreUnknown', '1'],
    ]);
    expect(cniArgsFor(args, delegate('x'))).toEqual([...args]);
    const rc = { portMappings: [{ hostPort: 80 }] };
    expect(capabilityArgsFor(rc, delegate('m', { master: true }))).toEqual(rc);
    expect(capabilityArgsFor(rc, delegate('x', { k8s }))).toEqual({ ips: ['10.0.0.5'] });
  });

  it('namespace isolation as Multus: own namespace and globalNamespaces (default: "default")', () => {
    const conf = (extra: object) =>
      parseMetaConf({
        cniVersion: '1.0.0',
        name: 'm',
        type: 'manifold',
        delegates: [{ name: 'x', type: 'bridge' }],
        ...extra,
      });
    expect(globalNamespaces(conf({}))).toEqual(['default']);
    expect(globalNamespaces(conf({ globalNamespaces: ' a, b ,' }))).toEqual(['a', 'b']);
    const iso = conf({ namespaceIsolation: true });
    expect(() => checkIsolation(iso, 'team', 'team', 'n')).not.toThrow();
    expect(() => checkIsolation(iso, 'team', 'default', 'n')).not.toThrow();
    expect(cniErrorOf(() => checkIsolation(iso, 'team', 'other', 'n')).message).toBe(
      'namespace isolation: pod in namespace "team" may not use network "other/n"',
    );
    expect(() => checkIsolation(conf({}), 'team', 'other', 'n')).not.toThrow();
  });
});
