/**
 * Build-time warm-up: exercises the code every CNI call runs (config schemas and parsing for
 * each built-in, result conversion, netlink message encoding) without touching the kernel or
 * the filesystem, so the V8 code cache written by the build holds compiled code for it.
 */

import { decodeResult, encodeResult, printJson } from './cni/result.ts';
import { SUPPORTED_VERSIONS } from './cni/versions.ts';
import { encodeAttrs, str, u32 } from './kernel/nl/attrs.ts';
import { builtinTypes, loaderFor } from './registry.ts';

const IPAM = {
  type: 'host-local',
  ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.50', gateway: '10.1.0.1' }]],
  routes: [{ dst: '0.0.0.0/0' }],
  dataDir: '/var/lib/cni/networks',
};

/** A typical config of each built-in (a type without one is warmed with its bare minimum). */
const SAMPLES: Record<string, Record<string, unknown>> = {
  macvlan: { master: 'eth0', mode: 'bridge', mtu: 1500, ipam: IPAM },
  ipvlan: { master: 'eth0', mode: 'l2', ipam: IPAM },
  bridge: { bridge: 'cni0', isDefaultGateway: true, ipMasq: true, hairpinMode: true, mtu: 1500, ipam: IPAM },
  vxlan: { vni: 42, mode: 'bridge', remotes: ['192.0.2.2'], ipam: IPAM },
  tunnel: { mode: 'gre', remote: '192.0.2.2', key: 1, ipam: IPAM },
  sriov: { deviceID: '0000:01:10.0', vlan: 100, vlanQoS: 3, spoofchk: 'on', trust: 'off', ipam: IPAM },
  'host-local': { ipam: IPAM },
  static: { ipam: { type: 'static', addresses: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }] } },
};

export async function warm(): Promise<void> {
  for (const type of builtinTypes('link', 'ipam')) {
    const load = loaderFor(type);
    if (!load) continue;
    const plugin = await load();
    const raw = { cniVersion: '1.0.0', name: `warm-${type}`, type, ...SAMPLES[type] };
    try {
      plugin.parseConfig(raw, new Map([['IgnoreUnknown', '1']]));
    } catch {
      // a sample may not fit a plugin still being written; warming is best effort
    }
  }
  const result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'net1', mac: '0a:58:0a:01:00:05', mtu: 1500, sandbox: '/run/netns/p' }],
    ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
  };
  for (const v of SUPPORTED_VERSIONS) printJson(encodeResult(decodeResult(result, v), v));
  encodeAttrs([
    [3, str('net1')],
    [18, [[1, str('macvlan')]]],
    [4, u32(1500)],
  ]);
}
