/**
 * bridge vlan/vlanTrunk need bridge VLAN filtering, which this host's kernel lacks: these run
 * in the kernel-lab VM (test/vm/run.sh). Two tests, kept few because code runs ~20x slower
 * there: the access VLAN with its gateway interface and a trunk (port VLAN tables, traffic
 * confined to the VLAN), then the trunk-only and preserveDefaultVlan variants.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ipJson, isolateHost, newNetns, uniq } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

isolateHost();
const dataDir = scratchDir('mf-bridge-vlan-');
const load = () => {
  return builtinLoader('bridge')();
};

interface Result {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
}
type VlanShow = { ifname: string; vlans?: { vlan: number; vlanEnd?: number; flags?: string[] }[] }[];

async function cni(command: string, conf: object, netns: string, containerId: string, prev?: object) {
  return runWith(
    load,
    { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
    JSON.stringify(prev ? { ...conf, prevResult: prev } : conf),
  );
}

async function add(
  conf: object,
): Promise<{ result: Result; netns: { name: string; path: string }; id: string }> {
  const netns = newNetns();
  const id = uniq('ctr');
  const r = await cni('ADD', conf, netns.path, id);
  if (r.code !== 0) expect.fail(`ADD failed: ${r.stdout}`);
  return { result: r.json as unknown as Result, netns, id };
}

/** A port's VLANs as `vid[ P][ U]` strings (ranges expanded only at their ends). */
function vlansOf(port: string): string[] {
  const shown = JSON.parse(
    execFileSync('bridge', ['-j', 'vlan', 'show', 'dev', port], { encoding: 'utf8' }) || '[]',
  ) as VlanShow;
  return (shown[0]?.vlans ?? []).map((v) => {
    const f = v.flags ?? [];
    const id = v.vlanEnd ? `${v.vlan}-${v.vlanEnd}` : `${v.vlan}`;
    return `${id}${f.includes('PVID') ? ' P' : ''}${f.includes('Egress Untagged') ? ' U' : ''}`;
  });
}

/** One ping (2 s timeout) per try; the VM emulates the CPU, so a first try can be late. */
function pings(from: string, to: string, tries = 1): boolean {
  for (let i = 0; i < tries; i++) {
    try {
      execFileSync('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '2', to], { stdio: 'ignore' });
      return true;
    } catch {
      // try again
    }
  }
  return false;
}

const base = (bridge: string, subnet: string, extra: object) => ({
  cniVersion: '1.0.0',
  name: uniq('vlannet'),
  type: 'bridge',
  bridge,
  ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  ...extra,
});

describe('bridge with VLAN filtering', () => {
  it('puts the pod on its access VLAN with a trunk, a VLAN gateway, and confines traffic', async () => {
    const br = uniq('vbr');
    const conf100 = base(br, '10.100.0.0/24', {
      isGateway: true,
      vlan: 100,
      vlanTrunk: [{ minID: 200, maxID: 202 }, { id: 300 }],
    });
    const a = await add(conf100);
    const b = await add(conf100);
    const c = await add(base(br, '10.100.0.0/24', { vlan: 200 })); // same subnet, other VLAN

    const info = ipJson<{ linkinfo: { info_data: { vlan_filtering: number } } }[]>(
      '-d',
      'link',
      'show',
      'dev',
      br,
    );
    expect(info[0]?.linkinfo.info_data.vlan_filtering).toBe(1);

    // [bridge, host veth, pod, VLAN gateway]; the gateway interface holds the address.
    const gwName = `${br}.100`;
    expect(a.result.interfaces.map((i) => i.name)).toEqual([
      br,
      a.result.interfaces[1]?.name,
      'eth0',
      gwName,
    ]);
    expect(a.result.ips).toEqual([{ address: '10.100.0.2/24', gateway: '10.100.0.1', interface: 2 }]);
    const gwAddrs = ipJson<{ addr_info: { family: string; local: string }[] }[]>(
      'addr',
      'show',
      'dev',
      gwName,
    );
    expect(gwAddrs[0]?.addr_info.filter((x) => x.family === 'inet').map((x) => x.local)).toEqual([
      '10.100.0.1',
    ]);
    const brAddrs = ipJson<{ addr_info: { family: string; local: string }[] }[]>('addr', 'show', 'dev', br);
    expect(brAddrs[0]?.addr_info.filter((x) => x.family === 'inet')).toEqual([]);

    // Port VLAN tables: default VLAN 1 removed, access VLAN untagged PVID, trunk tagged.
    const portA = a.result.interfaces[1]?.name ?? '';
    expect(vlansOf(portA)).toEqual(['100 P U', '200', '201', '202', '300']);
    expect(vlansOf(c.result.interfaces[1]?.name ?? '')).toEqual(['200 P U']);
    const gwPort = ipJson<{ ifname: string; master?: string; link_index?: number }[]>(
      'link',
      'show',
      'master',
      br,
    )
      .map((l) => l.ifname)
      .find((n) => ![portA, b.result.interfaces[1]?.name, c.result.interfaces[1]?.name].includes(n));
    expect(vlansOf(gwPort ?? '')).toEqual(['100 P U']);

    // Traffic: same VLAN reaches each other and the gateway; the other VLAN reaches nobody.
    // (The negative one counts because the positive ones proved the path works.)
    expect(pings(a.netns.name, '10.100.0.3', 5)).toBe(true);
    expect(pings(a.netns.name, '10.100.0.1', 5)).toBe(true);
    expect(pings(c.netns.name, '10.100.0.2')).toBe(false);

    expect((await cni('CHECK', conf100, a.netns.path, a.id, a.result)).code).toBe(0);
    for (const x of [a, b]) expect((await cni('DEL', conf100, x.netns.path, x.id)).code).toBe(0);
    expect(ipJson<{ ifname: string }[]>('link', 'show', 'dev', gwName)[0]?.ifname).toBe(gwName); // shared, stays
  });

  it('keeps VLAN 1 native on a trunk-only port, and keeps the default VLAN with preserveDefaultVlan', async () => {
    const br = uniq('vbr');
    const trunkOnly = await add(base(br, '10.101.0.0/24', { vlanTrunk: [{ minID: 10, maxID: 11 }] }));
    expect(vlansOf(trunkOnly.result.interfaces[1]?.name ?? '')).toEqual(['1 P U', '10', '11']);
    const preserved = await add(base(br, '10.102.0.0/24', { vlan: 42, preserveDefaultVlan: true }));
    // VLAN 1 stays (untagged, as the bridge made it); the access VLAN takes over as PVID.
    expect(vlansOf(preserved.result.interfaces[1]?.name ?? '')).toEqual(['1 U', '42 P U']);
  });
});
