/**
 * ipvlan needs a kernel with CONFIG_IPVLAN (this host's has none): these run inside the
 * kernel-lab VM (test/vm/run.sh). One file, all three modes, on a dummy master.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

isolateHost();
const dataDir = scratchDir('mf-ipvlan-');
const load = builtinLoader('ipvlan');

function conf(mode: string, name: string, subnet: string) {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'ipvlan',
    master: 'd0',
    mode,
    ipam: {
      type: 'host-local',
      dataDir,
      ranges: [[{ subnet, gateway: subnet.replace(/0\/24$/, '1') }]],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  };
}

async function cni(command: string, netns: string, ifname: string, c: object, prev?: object) {
  return runWith(
    load,
    {
      CNI_COMMAND: command,
      CNI_CONTAINERID: `c-${ifname}-${netns.slice(-6)}`,
      CNI_NETNS: netns,
      CNI_IFNAME: ifname,
    },
    JSON.stringify(prev ? { ...c, prevResult: prev } : c),
  );
}

function firstIP(json: Record<string, unknown> | undefined): string {
  const ips = (json?.ips ?? []) as { address: string }[];
  return ips[0]?.address ?? '';
}

interface LinkJson {
  ifname: string;
  address: string;
  linkinfo?: { info_kind: string; info_data?: { mode?: string; flags?: string } };
}
interface RouteJson {
  dst: string;
  gateway?: string;
  dev: string;
}

beforeAll(() => {
  ip('link', 'add', 'd0', 'type', 'dummy');
  ip('link', 'set', 'd0', 'up');
});

describe.each(['l2', 'l3', 'l3s'])('ipvlan %s', (mode) => {
  it('ADD makes the slave in the pod, CHECK passes, DEL removes it and releases the IP', async () => {
    const pod = newNetns();
    const c = conf(mode, `ipv-${mode}`, '10.30.0.0/24');
    const add = await cni('ADD', pod.path, 'net1', c);
    expect(add.json, add.stdout).toMatchObject({ cniVersion: '1.0.0' });
    expect(add.code).toBe(0);
    const [l] = ipJson<LinkJson[]>('-d', '-n', pod.name, 'link', 'show', 'net1');
    expect(l?.linkinfo?.info_kind).toBe('ipvlan');
    expect(l?.linkinfo?.info_data?.mode).toBe(mode);
    const masterMac = ipJson<LinkJson[]>('link', 'show', 'd0')[0]?.address;
    expect(l?.address).toBe(masterMac);
    const ipAddr = firstIP(add.json);
    expect(ip('-n', pod.name, 'addr', 'show', 'net1')).toContain(ipAddr);
    const def = ipJson<RouteJson[]>('-n', pod.name, 'route', 'show', 'default')[0];
    if (mode === 'l2') expect(def?.gateway).toBe('10.30.0.1');
    else expect(def?.gateway).toBeUndefined(); // L3/L3S: a device route
    expect(def?.dev).toBe('net1');

    const check = await cni('CHECK', pod.path, 'net1', c, add.json);
    expect(check.code, check.stdout).toBe(0);
    ip('-n', pod.name, 'route', 'del', 'default');
    const broken = await cni('CHECK', pod.path, 'net1', c, add.json);
    expect(broken.code).toBe(1);
    expect(String(broken.json?.msg)).toMatch(/route 0\.0\.0\.0\/0.* is missing/);

    const del = await cni('DEL', pod.path, 'net1', c);
    expect(del.code, del.stdout).toBe(0);
    expect(ip('-n', pod.name, 'link')).not.toContain('net1');
    expect(readdirSync(join(dataDir, `ipv-${mode}`)).filter((f) => /^\d/.test(f))).toEqual([]);
    expect((await cni('DEL', pod.path, 'net1', c)).code).toBe(0);
  });

  it('two pods on one master reach each other', async () => {
    const a = newNetns();
    const b = newNetns();
    const c = conf(mode, `ipv-ping-${mode}`, `10.${40 + ['l2', 'l3', 'l3s'].indexOf(mode)}.0.0/24`);
    const ra = await cni('ADD', a.path, 'net1', c);
    const rb = await cni('ADD', b.path, 'net1', c);
    expect([ra.code, rb.code], ra.stdout + rb.stdout).toEqual([0, 0]);
    const ipB = firstIP(rb.json).split('/')[0] ?? '';
    execFileSync('ip', ['netns', 'exec', a.name, 'ping', '-c1', '-W2', ipB]);
    expect((await cni('DEL', a.path, 'net1', c)).code).toBe(0);
    expect((await cni('DEL', b.path, 'net1', c)).code).toBe(0);
  });
});

describe('kernel refusals', () => {
  it('a macvlan on a master that carries ipvlan fails with an explanation', async () => {
    const pod = newNetns();
    const other = newNetns();
    const c = conf('l2', 'ipv-busy', '10.32.0.0/24');
    expect((await cni('ADD', pod.path, 'net1', c)).code).toBe(0);
    const mv = builtinLoader('macvlan');
    const r = await runWith(
      mv,
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'busy', CNI_NETNS: other.path, CNI_IFNAME: 'net1' },
      JSON.stringify({ cniVersion: '1.0.0', name: 'mv-busy', type: 'macvlan', master: 'd0' }),
    );
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe('failed to create macvlan on master "d0": device or resource busy');
    expect(String(r.json?.details)).toContain('ipvlan');
    expect(ip('-n', other.name, 'link')).not.toMatch(/mf[0-9a-f]{8}|net1/);
    expect((await cni('DEL', pod.path, 'net1', c)).code).toBe(0);
  });

  it('chains onto prevResult: its single interface is the master, its IPs are reused', async () => {
    const pod = newNetns();
    ip('link', 'add', 'hd0', 'type', 'dummy');
    ip('link', 'set', 'hd0', 'netns', pod.name);
    ip('-n', pod.name, 'link', 'set', 'hd0', 'up');
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'hd0', sandbox: pod.path }],
      ips: [{ address: '10.33.0.5/24', gateway: '10.33.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0' }],
    };
    const c = { cniVersion: '1.0.0', name: 'ipv-chain', type: 'ipvlan', mode: 'l2', linkInContainer: true };
    const r = await cni('ADD', pod.path, 'net1', c, prev);
    expect(r.code, r.stdout).toBe(0);
    expect(ip('-n', pod.name, 'addr', 'show', 'net1')).toContain('10.33.0.5/24');
    expect(existsSync(pod.path)).toBe(true);
  });
});

describe('side by side with the reference ipvlan (Debian 1.1.1)', () => {
  /** Runs /usr/lib/cni/ipvlan the way a runtime does; host-local comes from /usr/lib/cni too. */
  function reference(command: string, netns: string, c: object): Record<string, unknown> | undefined {
    let out: string;
    try {
      out = execFileSync('/usr/lib/cni/ipvlan', [], {
        input: JSON.stringify(c),
        env: {
          PATH: process.env.PATH ?? '',
          CNI_COMMAND: command,
          CNI_CONTAINERID: `ref-${netns.slice(-6)}`,
          CNI_NETNS: netns,
          CNI_IFNAME: 'net1',
          CNI_PATH: '/usr/lib/cni',
        },
        encoding: 'utf8',
      });
    } catch (err) {
      throw new Error(`reference ipvlan ${command} failed: ${String((err as { stdout?: unknown }).stdout)}`);
    }
    return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : undefined;
  }

  /** What must agree: shapes and values, with the pod path, MACs and addresses masked. */
  function shape(r: Record<string, unknown> | undefined) {
    const ifs = (r?.interfaces ?? []) as { name: string; mac?: string; sandbox?: string }[];
    const ips = (r?.ips ?? []) as { address: string; gateway?: string; interface?: number }[];
    return {
      cniVersion: r?.cniVersion,
      interfaces: ifs.map((i) => ({
        name: i.name,
        mac: i.mac ? 'mac' : undefined,
        sandbox: i.sandbox ? 'ns' : undefined,
      })),
      ips: ips.map((i) => ({
        prefix: i.address.split('/')[1],
        gateway: !!i.gateway,
        interface: i.interface,
      })),
      routes: r?.routes,
    };
  }

  it.each(['l2', 'l3'])('%s: same result shape and kernel state', async (mode) => {
    const ours = newNetns();
    const theirs = newNetns();
    const c = conf(mode, `ipv-cmp-${mode}`, `10.${50 + (mode === 'l2' ? 0 : 1)}.0.0/24`);
    // its own subnet: slaves of one master may not share an address
    const refSubnet = `10.${60 + (mode === 'l2' ? 0 : 1)}.0.0/24`;
    const refIpam = conf(mode, 'x', refSubnet).ipam;
    const refConf = { ...c, name: `ref-${c.name}`, ipam: { ...refIpam, dataDir: join(dataDir, 'ref') } };
    const a = await cni('ADD', ours.path, 'net1', c);
    expect(a.code, a.stdout).toBe(0);
    const b = reference('ADD', theirs.path, refConf);
    // deliberate: manifold's results carry the interface MTU (README, "Differences")
    expect(shape(a.json)).toEqual(shape(b));
    const link = (ns: string) => {
      const [l] = ipJson<(LinkJson & { mtu: number })[]>('-d', '-n', ns, 'link', 'show', 'net1');
      return {
        kind: l?.linkinfo?.info_kind,
        mode: l?.linkinfo?.info_data?.mode,
        mtu: l?.mtu,
        mac: l?.address,
      };
    };
    expect(link(ours.name)).toEqual(link(theirs.name));
    const routes = (ns: string) =>
      ipJson<RouteJson[]>('-n', ns, 'route', 'show').map(
        (r) => `${r.dst === 'default' ? 'default' : 'subnet'} ${r.gateway ? 'via gw' : 'dev'} ${r.dev}`,
      );
    // deliberate: in L3 there is no ARP, so manifold installs device routes where the
    // reference routes via the (never resolved) gateway
    const expected = routes(theirs.name).map((r) => (mode === 'l2' ? r : r.replace(' via gw ', ' dev ')));
    expect(routes(ours.name)).toEqual(expected);
    expect((await cni('DEL', ours.path, 'net1', c)).code).toBe(0);
    reference('DEL', theirs.path, refConf);
  });
});
