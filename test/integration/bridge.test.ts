/**
 * The bridge plugin on the real kernel, driven in-process through the skel: every verb, the
 * kernel state each one leaves (links, bridge ports, addresses, routes, sysctls, nftables,
 * host-local files), rollback of a failed ADD and the DEL corner cases.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { delNetns, ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
isolateHost();

const work = mkdtempSync(join(tmpdir(), 'manifold-bridge-it-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const load = builtinLoader('bridge');

type Verb = 'ADD' | 'CHECK' | 'DEL' | 'GC' | 'STATUS';
interface Call {
  netns: string;
  ifname?: string;
  containerId: string;
}

let subnetSeq = 0;
/** A network config with host-local IPAM on a fresh /24; `net24` is its first three octets. */
function network(extra: Record<string, unknown> = {}, ipamExtra: Record<string, unknown> = {}) {
  const net24 = `10.66.${++subnetSeq}`;
  const conf: Record<string, unknown> = {
    cniVersion: '1.0.0',
    name: uniq('brnet'),
    type: 'bridge',
    bridge: uniq('mfbr'),
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: `${net24}.0/24` }]],
      ...ipamExtra,
    },
    ...extra,
  };
  return { conf, net24 };
}

async function cni(verb: Verb, conf: Record<string, unknown>, call: Call, extraEnv = {}): Promise<SkelRun> {
  return runWith(
    load as NonNullable<typeof load>,
    {
      CNI_COMMAND: verb,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: call.ifname ?? 'eth0',
      CNI_PATH: '/nonexistent',
      ...extraEnv,
    },
    JSON.stringify(conf),
  );
}

async function mustAdd(conf: Record<string, unknown>, call: Call): Promise<Result> {
  const r = await cni('ADD', conf, call);
  if (r.code !== 0) expect.fail(`ADD failed: ${r.stdout}`);
  return r.json as unknown as Result;
}

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

interface LinkShow {
  ifname: string;
  ifindex: number;
  link_index?: number;
  mtu: number;
  address: string;
  master?: string;
  flags: string[];
  operstate: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}
type AddrShow = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];

const linkShow =
  (...ns: string[]) =>
  (name: string): LinkShow | undefined => {
    try {
      return ipJson<LinkShow[]>(...ns, '-d', 'link', 'show', 'dev', name)[0];
    } catch {
      return undefined;
    }
  };
const hostLink = linkShow();
const addrsOf = (ns: string[], dev: string) =>
  (ipJson<AddrShow>(...ns, 'addr', 'show', 'dev', dev)[0]?.addr_info ?? [])
    .filter((a) => !a.local.startsWith('fe80'))
    .map((a) => `${a.local}/${a.prefixlen}`);
const vethsOnHost = () => ipJson<LinkShow[]>('-d', 'link', 'show', 'type', 'veth').map((l) => l.ifname);
const nftRuleset = () =>
  execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const reservations = (conf: Record<string, unknown>) => {
  const dir = join(work, 'ipam', String(conf.name));
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f) || f.includes(':')) : [];
};

describe('bridge ADD, CHECK, DEL', () => {
  it('creates bridge, gateway, veth pair and pod interface; CHECK catches breakage; DEL cleans up', async () => {
    const { conf, net24 } = network({
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      mtu: 1400,
      runtimeConfig: { mac: '0a:58:0a:42:00:09' },
    });
    const br = String(conf.bridge);
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);

    // The result: [bridge, host veth, pod interface], IPs at index 2, gateway .1.
    expect(result.cniVersion).toBe('1.0.0');
    expect(result.interfaces).toHaveLength(3);
    const [brIf, hostIf, podIf] = result.interfaces;
    expect(brIf).toMatchObject({ name: br });
    expect(brIf?.sandbox).toBeUndefined();
    expect(hostIf?.name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(podIf).toEqual({ name: 'eth0', mac: '0a:58:0a:42:00:09', mtu: 1400, sandbox: pod.path });
    expect(result.ips).toEqual([{ address: `${net24}.2/24`, gateway: `${net24}.1`, interface: 2 }]);

    // Bridge: exists, up, gateway address, MAC as reported.
    const b = hostLink(br);
    expect(b?.linkinfo?.info_kind).toBe('bridge');
    expect(b?.flags).toContain('UP');
    expect(b?.address).toBe(brIf?.mac);
    expect(addrsOf([], br)).toEqual([`${net24}.1/24`]);
    expect(execFileSync('sysctl', ['-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' }).trim()).toBe('1');
    expect(execFileSync('sysctl', ['-n', `net.ipv6.conf.${br}.accept_ra`], { encoding: 'utf8' }).trim()).toBe(
      '0',
    );

    // Host veth: a port of the bridge, hairpin on, MTU, up, peer of the pod interface.
    const hv = hostLink(hostIf?.name ?? '');
    expect(hv?.master).toBe(br);
    expect(hv?.linkinfo?.info_slave_data?.hairpin).toBe(true);
    expect(hv?.mtu).toBe(1400);
    expect(hv?.operstate).toBe('UP');
    expect(hv?.address).toBe(hostIf?.mac);

    // Pod interface: veth, MAC, MTU, address, routes.
    const pl = linkShow('-n', pod.name)('eth0');
    expect(pl?.linkinfo?.info_kind).toBe('veth');
    expect(pl?.address).toBe('0a:58:0a:42:00:09');
    expect(pl?.mtu).toBe(1400);
    expect(pl?.link_index).toBe(hv?.ifindex);
    expect(hv?.link_index).toBe(pl?.ifindex);
    expect(addrsOf(['-n', pod.name], 'eth0')).toEqual([`${net24}.2/24`]);
    const podRoutes = ipJson<{ dst: string; gateway?: string }[]>('-n', pod.name, 'route', 'show');
    expect(podRoutes.map((r) => r.dst)).toEqual([`${net24}.0/24`]);
    expect(
      execFileSync('ip', ['netns', 'exec', pod.name, 'sysctl', '-n', 'net.ipv4.conf.eth0.arp_notify'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('1');

    // Masquerade: one rule for the pod's address, commented with network and container.
    const masq = nftRuleset();
    expect(masq).toContain(
      `ip saddr ${net24}.2 ip daddr != ${net24}.0/24 ip daddr != 224.0.0.0/4 masquerade`,
    );
    expect(masq).toContain(`net: ${conf.name}, if: eth0, id: ${call.containerId}`);
    expect(reservations(conf)).toEqual([`${net24}.2`]);

    // CHECK passes on the ADD result, then fails for each thing broken.
    const checkConf = { ...conf, prevResult: result };
    expect((await cni('CHECK', checkConf, call)).code).toBe(0);
    ip('link', 'set', 'dev', hostIf?.name ?? '', 'type', 'bridge_slave', 'hairpin', 'off');
    const noHairpin = await cni('CHECK', checkConf, call);
    expect(noHairpin.code).toBe(1);
    expect(noHairpin.json?.msg).toMatch(/hairpin mode off, config says on/);
    ip('link', 'set', 'dev', hostIf?.name ?? '', 'type', 'bridge_slave', 'hairpin', 'on');
    expect((await cni('CHECK', checkConf, call)).code).toBe(0);
    ip('-n', pod.name, 'addr', 'del', `${net24}.2/24`, 'dev', 'eth0');
    const noAddr = await cni('CHECK', checkConf, call);
    expect(noAddr.json?.msg).toMatch(new RegExp(`address ${net24}.2/24 of the result is missing`));
    ip('-n', pod.name, 'addr', 'add', `${net24}.2/24`, 'dev', 'eth0');
    ip('link', 'set', 'dev', hostIf?.name ?? '', 'nomaster');
    const detached = await cni('CHECK', checkConf, call);
    expect(detached.json?.msg).toMatch(/is not a port of bridge/);

    // DEL: veth gone on both sides, IP released, masquerade gone, bridge and gateway stay.
    expect((await cni('DEL', { ...conf, prevResult: result }, call)).code).toBe(0);
    expect(hostLink(hostIf?.name ?? '')).toBeUndefined();
    expect(linkShow('-n', pod.name)('eth0')).toBeUndefined();
    expect(reservations(conf)).toEqual([]);
    expect(nftRuleset()).not.toContain(call.containerId);
    expect(hostLink(br)?.linkinfo?.info_kind).toBe('bridge');
    expect(addrsOf([], br)).toEqual([`${net24}.1/24`]);

    // DEL again, with the netns gone, and with no netns at all: all fine.
    expect((await cni('DEL', conf, call)).code).toBe(0);
    delNetns(pod.name);
    expect((await cni('DEL', conf, call)).code).toBe(0);
    expect((await cni('DEL', conf, { ...call, netns: '' })).code).toBe(0);
  });

  it('attaches L2-only without IPAM: pod interface up, no address, no gateway', async () => {
    const { conf } = network();
    delete conf.ipam;
    const br = String(conf.bridge);
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr'), ifname: 'net1' };
    const result = await mustAdd(conf, call);
    expect(result.ips).toBeUndefined();
    expect(result.interfaces.map((i) => i.name)).toEqual([br, result.interfaces[1]?.name, 'net1']);
    const pl = linkShow('-n', pod.name)('net1');
    expect(pl?.flags).toContain('UP');
    expect(addrsOf(['-n', pod.name], 'net1')).toEqual([]);
    expect(addrsOf([], br)).toEqual([]);
    expect((await cni('CHECK', { ...conf, prevResult: result }, call)).code).toBe(0);
    expect((await cni('DEL', conf, call)).code).toBe(0);
    expect(linkShow('-n', pod.name)('net1')).toBeUndefined();
  });

  it('keeps the MAC of a bridge it creates when ports with lower MACs join (CHECK keeps passing)', async () => {
    const { conf } = network(); // no isGateway: nothing else pins the MAC
    const br = String(conf.bridge);
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);
    const mac = hostLink(br)?.address;
    expect(result.interfaces[0]?.mac).toBe(mac);
    const low = uniq('low');
    ip('link', 'add', low, 'address', '00:00:00:00:00:01', 'type', 'veth', 'peer', 'name', uniq('lp'));
    ip('link', 'set', low, 'master', br, 'up');
    expect(hostLink(br)?.address).toBe(mac);
    expect((await cni('CHECK', { ...conf, prevResult: result }, call)).code).toBe(0);
    ip('link', 'del', low);
    expect((await cni('DEL', conf, call)).code).toBe(0);
    expect(hostLink(br)?.address).toBe(mac);
  });

  it('leaves the pod end down with disableContainerInterface, and isolates the port', async () => {
    const { conf } = network({ disableContainerInterface: true, portIsolation: true });
    const withIpam = await cni('ADD', conf, { netns: newNetns().path, containerId: uniq('ctr') });
    expect(withIpam.json).toMatchObject({
      code: 7,
      msg: 'ipam: cannot be used when disableContainerInterface is true',
    });
    delete conf.ipam;
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);
    expect(linkShow('-n', pod.name)('eth0')?.flags).not.toContain('UP');
    const hv = hostLink(result.interfaces[1]?.name ?? '');
    expect(hv?.flags).toContain('UP');
    expect(hv?.linkinfo?.info_slave_data?.isolated).toBe(true);
    expect((await cni('CHECK', { ...conf, prevResult: result }, call)).code).toBe(0);
    ip('link', 'set', 'dev', hv?.ifname ?? '', 'type', 'bridge_slave', 'isolated', 'off');
    const r = await cni('CHECK', { ...conf, prevResult: result }, call);
    expect(r.json?.msg).toMatch(/has isolation off, config says on/);
    expect((await cni('DEL', conf, call)).code).toBe(0);
  });

  it('adds a default route once with isDefaultGateway, IPAM default route or not', async () => {
    for (const routes of [[], [{ dst: '0.0.0.0/0' }]]) {
      const { conf, net24 } = network({ isDefaultGateway: true }, { routes });
      const pod = newNetns();
      const call = { netns: pod.path, containerId: uniq('ctr') };
      const result = await mustAdd(conf, call);
      expect(result.routes).toEqual(
        routes.length ? [{ dst: '0.0.0.0/0' }] : [{ dst: '0.0.0.0/0', gw: `${net24}.1` }],
      );
      const def = ipJson<{ dst: string; gateway?: string }[]>('-n', pod.name, 'route', 'show', 'default');
      expect(def).toEqual([expect.objectContaining({ dst: 'default', gateway: `${net24}.1` })]);
      expect(addrsOf([], String(conf.bridge))).toEqual([`${net24}.1/24`]);
      expect((await cni('CHECK', { ...conf, prevResult: result }, call)).code).toBe(0);
      expect((await cni('DEL', conf, call)).code).toBe(0);
    }
  });

  it('puts IPv4 and IPv6 gateways on the bridge for a dual-stack pod', async () => {
    const n = ++subnetSeq;
    const { conf } = network({ isGateway: true });
    conf.ipam = {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: `10.67.${n}.0/24` }], [{ subnet: `fd00:67:${n}::/64` }]],
    };
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);
    expect(result.ips).toEqual([
      { address: `10.67.${n}.2/24`, gateway: `10.67.${n}.1`, interface: 2 },
      { address: `fd00:67:${n}::2/64`, gateway: `fd00:67:${n}::1`, interface: 2 },
    ]);
    expect(addrsOf([], String(conf.bridge)).sort()).toEqual([`10.67.${n}.1/24`, `fd00:67:${n}::1/64`]);
    expect(addrsOf(['-n', pod.name], 'eth0').sort()).toEqual([`10.67.${n}.2/24`, `fd00:67:${n}::2/64`]);
    expect(execFileSync('sysctl', ['-n', 'net.ipv6.conf.all.forwarding'], { encoding: 'utf8' }).trim()).toBe(
      '1',
    );
    expect((await cni('CHECK', { ...conf, prevResult: result }, call)).code).toBe(0);
    expect((await cni('DEL', conf, call)).code).toBe(0);
  });

  it('sets promiscuous mode on the bridge, and CHECK notices when it is turned off', async () => {
    const { conf } = network({ promiscMode: true });
    const br = String(conf.bridge);
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);
    expect(hostLink(br)?.flags).toContain('PROMISC');
    ip('link', 'set', 'dev', br, 'promisc', 'off');
    const r = await cni('CHECK', { ...conf, prevResult: result }, call);
    expect(r.json?.msg).toMatch(/promiscuous mode off, config says on/);
    expect((await cni('DEL', conf, call)).code).toBe(0);
  });

  it('refuses hairpinMode with promiscMode at ADD, before creating anything', async () => {
    const { conf } = network({ promiscMode: true, hairpinMode: true });
    const pod = newNetns();
    const r = await cni('ADD', conf, { netns: pod.path, containerId: uniq('ctr') });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 7, msg: 'promiscMode: cannot be true together with hairpinMode' });
    expect(hostLink(String(conf.bridge))).toBeUndefined();
  });

  it('adds and removes a MAC spoof-check chain with macspoofchk', async () => {
    const { conf } = network({ macspoofchk: true });
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const result = await mustAdd(conf, call);
    const [, hostIf, podIf] = result.interfaces;
    const rs = nftRuleset();
    expect(rs).toContain(`iifname "${hostIf?.name}" ether saddr != ${podIf?.mac} drop`);
    expect(rs).toContain(`id: ${call.containerId}`);
    expect((await cni('DEL', conf, call)).code).toBe(0);
    expect(nftRuleset()).not.toContain(call.containerId);
  });

  it('DEL succeeds when the masquerade rules are already gone', async () => {
    const { conf } = network({ ipMasq: true });
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    await mustAdd(conf, call);
    execFileSync('nft', ['delete', 'table', 'inet', 'manifold_masq']);
    expect((await cni('DEL', conf, call)).code).toBe(0);
    expect(reservations(conf)).toEqual([]);
    expect(linkShow('-n', pod.name)('eth0')).toBeUndefined();
  });

  it('GC removes the masquerade chains and addresses of attachments that are no longer valid', async () => {
    const { conf } = network({ ipMasq: true, cniVersion: '1.1.0' });
    const keep = { netns: newNetns().path, containerId: uniq('keep') };
    const gone = { netns: newNetns().path, containerId: uniq('gone') };
    await mustAdd(conf, keep);
    await mustAdd(conf, gone);
    expect(reservations(conf)).toHaveLength(2);
    const gcConf = {
      ...conf,
      'cni.dev/valid-attachments': [{ containerID: keep.containerId, ifname: 'eth0' }],
    };
    const r = await runWith(
      load as NonNullable<typeof load>,
      { CNI_COMMAND: 'GC', CNI_PATH: '/nonexistent' },
      JSON.stringify(gcConf),
    );
    expect(r).toMatchObject({ code: 0 });
    const rs = nftRuleset();
    expect(rs).toContain(`id: ${keep.containerId}`);
    expect(rs).not.toContain(`id: ${gone.containerId}`);
    expect(reservations(conf)).toHaveLength(1);
    expect((await cni('DEL', conf, keep)).code).toBe(0);
  });

  it('STATUS fails with 50 when the bridge name is taken by something else', async () => {
    const { conf } = network({ cniVersion: '1.1.0' });
    const r1 = await runWith(
      load as NonNullable<typeof load>,
      { CNI_COMMAND: 'STATUS' },
      JSON.stringify(conf),
    );
    expect(r1.code).toBe(0);
    ip('link', 'add', String(conf.bridge), 'type', 'veth', 'peer', 'name', uniq('p'));
    const r2 = await runWith(
      load as NonNullable<typeof load>,
      { CNI_COMMAND: 'STATUS' },
      JSON.stringify(conf),
    );
    expect(r2.json).toMatchObject({ code: 50, msg: expect.stringMatching(/is not a bridge/) });
    const pod = newNetns();
    const r3 = await cni('ADD', conf, { netns: pod.path, containerId: uniq('ctr') });
    expect(r3.json?.msg).toMatch(
      /^failed to create bridge "mfbr\w+": "mfbr\w+" already exists but is not a bridge/,
    );
  });
});

describe('a failed ADD leaves nothing behind', () => {
  it('fails when the pod interface name is taken, creating nothing', async () => {
    const { conf } = network({ isGateway: true });
    const pod = newNetns();
    ip('-n', pod.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other');
    const before = vethsOnHost();
    const r = await cni('ADD', conf, { netns: pod.path, containerId: uniq('ctr') });
    expect(r.code).toBe(1);
    expect(r.json?.msg).toMatch(/"eth0" .* already exists/);
    expect(vethsOnHost()).toEqual(before);
    expect(hostLink(String(conf.bridge))).toBeUndefined();
    expect(reservations(conf)).toEqual([]);
  });

  it('rolls back veth and IP when the bridge has a conflicting address; forceAddress replaces it', async () => {
    const { conf, net24 } = network({ isGateway: true });
    const br = String(conf.bridge);
    ip('link', 'add', br, 'type', 'bridge');
    ip('addr', 'add', '192.0.2.1/24', 'dev', br);
    const pod = newNetns();
    const call = { netns: pod.path, containerId: uniq('ctr') };
    const before = vethsOnHost();
    const r = await cni('ADD', conf, call);
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      `failed to set gateway address ${net24}.1/24 on "${br}": it already has 192.0.2.1/24 (set forceAddress to replace it)`,
    );
    expect(vethsOnHost()).toEqual(before);
    expect(linkShow('-n', pod.name)('eth0')).toBeUndefined();
    expect(reservations(conf)).toEqual([]);
    expect(hostLink(br)).toBeDefined(); // not ours to remove

    const forced = { ...conf, forceAddress: true };
    await mustAdd(forced, call);
    expect(addrsOf([], br)).toEqual([`${net24}.1/24`]);
    expect((await cni('DEL', forced, call)).code).toBe(0);
  });

  it('rolls back veth and the bridge it created when IPAM is exhausted', async () => {
    const { conf, net24 } = network({}, {});
    conf.ipam = {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: `${net24}.0/24`, rangeStart: `${net24}.9`, rangeEnd: `${net24}.9` }]],
    };
    const first = { netns: newNetns().path, containerId: uniq('ctr') };
    await mustAdd(conf, first);
    const before = vethsOnHost();
    const other = { ...conf, bridge: uniq('mfbr') };
    const pod = newNetns();
    const r = await cni('ADD', other, { netns: pod.path, containerId: uniq('ctr') });
    expect(r.code).toBe(1);
    expect(r.json?.msg).toMatch(/no IP addresses available/);
    expect(vethsOnHost()).toEqual(before);
    expect(linkShow('-n', pod.name)('eth0')).toBeUndefined();
    expect(hostLink(String(other.bridge))).toBeUndefined();
    expect(reservations(conf)).toEqual([`${net24}.9`]);
    expect((await cni('DEL', conf, first)).code).toBe(0);
  });
});
