/**
 * macvlan on the real kernel, driven in-process through the skel: every verb, the kernel
 * state read back with iproute2, the host-local store on disk, and every failure path of ADD
 * leaving nothing behind.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delNetns, ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import {
  addrs,
  type Call,
  cni,
  linkIn,
  links,
  ok,
  podLinks,
  reservation,
  reservations,
  routes,
  sysctlIn,
} from '../helpers/inproc.ts';

requireRoot();
isolateHost();

const MASTER = 'mst0';
let work: string;
let dataDir: string;
let masterIndex: number;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-macvlan-'));
  dataDir = join(work, 'ipam');
  ip('link', 'add', MASTER, 'mtu', '1500', 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
  ip('link', 'set', `${MASTER}p`, 'up');
  masterIndex = linkIn(undefined, MASTER)?.ifindex ?? -1;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let netSeq = 0;
/** A fresh network (own name, own /24) with host-local IPAM. */
function net(
  extra: Record<string, unknown> = {},
  ipam: Record<string, unknown> = {},
): Record<string, unknown> & {
  name: string;
  prefix: string;
} {
  const n = ++netSeq;
  const prefix = `10.60.${n}`;
  return {
    cniVersion: '1.0.0',
    name: `mv${n}`,
    type: 'macvlan',
    master: MASTER,
    ...extra,
    ipam: {
      type: 'host-local',
      dataDir,
      ranges: [[{ subnet: `${prefix}.0/24`, rangeStart: `${prefix}.10`, rangeEnd: `${prefix}.20` }]],
      ...ipam,
    },
    prefix,
  };
}

function pod(ifname = 'net1'): Call & { name: string } {
  const p = newNetns();
  return { name: p.name, netns: p.path, containerId: uniq('ctr'), ifname };
}

/** Links in the host: a temporary macvlan must never be left there. */
const hostLinks = () =>
  links(undefined)
    .map((l) => l.ifname)
    .sort();

describe('ADD, CHECK, DEL', () => {
  it('attaches a macvlan with host-local addresses and routes, then removes every trace', async () => {
    const conf = net(
      { mode: 'bridge', mtu: 1400 },
      {
        routes: [
          { dst: '0.0.0.0/0' },
          { dst: '192.168.50.0/24', gw: '10.60.1.254', mtu: 1300, advmss: 1200 },
        ],
      },
    );
    const p = pod();
    const before = hostLinks();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    const l = linkIn(p.name, 'net1');
    expect(result).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1', mac: l?.address, mtu: 1400, sandbox: p.netns }],
      ips: [{ interface: 0, address: `${conf.prefix}.10/24`, gateway: `${conf.prefix}.1` }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.50.0/24', gw: '10.60.1.254', mtu: 1300, advmss: 1200 }],
      dns: {},
    });

    // the link: kind, mode, MTU, up, parent is the host master
    expect(l).toMatchObject({ mtu: 1400, operstate: 'UP', link_index: masterIndex });
    expect(l?.flags).toContain('UP');
    expect(l?.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
    expect(podLinks(p.name)).toEqual(['net1']);
    expect(hostLinks()).toEqual(before);
    // addresses and routes; the route without gw went via the IPAM gateway, mtu/advmss applied
    expect(addrs(p.name, 'net1')).toEqual([`${conf.prefix}.10/24`]);
    const rs = routes(p.name, 'net1');
    expect(rs.find((r) => r.dst === 'default')).toMatchObject({ gateway: `${conf.prefix}.1` });
    const withMetrics = rs.find((r) => r.dst === '192.168.50.0/24');
    expect(withMetrics).toMatchObject({ gateway: '10.60.1.254' });
    expect(withMetrics?.metrics).toEqual([{ mtu: 1300, advmss: 1200 }]);
    expect(sysctlIn(p.name, 'net/ipv4/conf/net1/arp_notify')).toBe('1');
    // the store, byte for byte as the reference writes it
    expect(reservations(dataDir, conf.name)).toEqual([`${conf.prefix}.10`]);
    expect(reservation(dataDir, conf.name, `${conf.prefix}.10`)).toBe(`${p.containerId}\r\nnet1`);
    expect(readFileSync(join(dataDir, conf.name, 'last_reserved_ip.0'), 'utf8')).toBe(`${conf.prefix}.10`);

    const withPrev = { ...conf, prevResult: result };
    expect(await cni('macvlan', 'CHECK', withPrev, p)).toMatchObject({ code: 0, stdout: '' });

    expect(await cni('macvlan', 'DEL', withPrev, p)).toMatchObject({ code: 0, stdout: '' });
    expect(podLinks(p.name)).toEqual([]);
    expect(reservations(dataDir, conf.name)).toEqual([]);
    expect(hostLinks()).toEqual(before);
    // DEL again: nothing to do, still success
    expect(await cni('macvlan', 'DEL', withPrev, p)).toMatchObject({ code: 0, stdout: '' });
  });

  it.each(['private', 'vepa', 'passthru'] as const)('creates mode %s', async (mode) => {
    // passthru takes the whole master: give it one of its own
    const master = uniq('pm');
    ip('link', 'add', master, 'type', 'veth', 'peer', 'name', `${master}p`);
    ip('link', 'set', master, 'up');
    const conf = net({ mode, master });
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    expect(linkIn(p.name, 'net1')?.linkinfo?.info_data).toMatchObject({ mode });
    expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', { ...conf, prevResult: result }, p));
    ip('link', 'del', master);
  });

  it('sets the broadcast queue length (bcqueuelen)', async () => {
    const conf = net({ bcqueuelen: 321 });
    const p = pod();
    ok(await cni('macvlan', 'ADD', conf, p));
    expect(linkIn(p.name, 'net1')?.linkinfo?.info_data).toMatchObject({ bcqueuelen: 321 });
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('attaches L2-only without ipam: link up, no addresses, empty ips', async () => {
    const { ipam: _none, prefix: _p, ...conf } = net();
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    expect(result.ips).toBeUndefined();
    expect(linkIn(p.name, 'net1')?.flags).toContain('UP');
    expect(addrs(p.name, 'net1')).toEqual([]);
    expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(podLinks(p.name)).toEqual([]);
  });

  it('configures dual stack with an IPv6 gateway (DAD settled before the routes)', async () => {
    const conf = net(
      {},
      {
        ranges: [[{ subnet: '10.61.0.0/24' }], [{ subnet: 'fd61::/64' }]],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      },
    );
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    expect(result.ips).toEqual([
      { interface: 0, address: '10.61.0.2/24', gateway: '10.61.0.1' },
      { interface: 0, address: 'fd61::2/64', gateway: 'fd61::1' },
    ]);
    expect(addrs(p.name, 'net1').sort()).toEqual(['10.61.0.2/24', 'fd61::2/64']);
    const rs = routes(p.name, 'net1');
    expect(rs.find((r) => r.dst === 'default' && r.gateway === 'fd61::1')).toBeDefined();
    expect(rs.find((r) => r.dst === 'default' && r.gateway === '10.61.0.1')).toBeDefined();
    expect(sysctlIn(p.name, 'net/ipv6/conf/net1/ndisc_notify')).toBe('1');
    expect(sysctlIn(p.name, 'net/ipv6/conf/net1/keep_addr_on_down')).toBe('1');
    expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });

  it('runs static IPAM in-process', async () => {
    const { prefix: _p, ...conf } = net(
      {},
      {
        type: 'static',
        addresses: [{ address: '10.62.0.7/24', gateway: '10.62.0.1' }],
        routes: [{ dst: '10.63.0.0/16' }],
        dns: { nameservers: ['10.62.0.53'] },
      },
    );
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    expect(result).toMatchObject({
      ips: [{ interface: 0, address: '10.62.0.7/24', gateway: '10.62.0.1' }],
      routes: [{ dst: '10.63.0.0/16' }],
      dns: { nameservers: ['10.62.0.53'] },
    });
    expect(routes(p.name, 'net1').find((r) => r.dst === '10.63.0.0/16')?.gateway).toBe('10.62.0.1');
    expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('prints the result in every spec version', async () => {
    for (const cniVersion of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const conf = net({ cniVersion });
      const p = pod();
      const result = ok(await cni('macvlan', 'ADD', conf, p));
      expect(result.cniVersion).toBe(cniVersion);
      const legacy = !cniVersion.startsWith('1.');
      expect((result.ips as { version?: string }[])[0]?.version).toBe(legacy ? '4' : undefined);
      expect((result.interfaces as { mtu?: number }[])[0]?.mtu).toBe(legacy ? undefined : 1500);
      ok(await cni('macvlan', 'DEL', conf, p));
    }
  });
});

describe('the MAC address', () => {
  const M_CONF = '0a:58:00:00:00:01';
  const M_ARGS = '0a:58:00:00:00:02';
  const M_RT = '0a:58:00:00:00:03';
  it.each([
    ['conf mac', { mac: M_CONF }, undefined, M_CONF],
    ['CNI_ARGS MAC over conf mac', { mac: M_CONF }, `IgnoreUnknown=1;MAC=${M_ARGS}`, M_ARGS],
    ['runtimeConfig.mac over both', { mac: M_CONF, runtimeConfig: { mac: M_RT } }, `MAC=${M_ARGS}`, M_RT],
  ])('%s', async (_what, extra, args, want) => {
    const conf = net(extra);
    const p = { ...pod(), ...(args ? { args } : {}) };
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    expect(linkIn(p.name, 'net1')?.address).toBe(want);
    expect((result.interfaces as { mac: string }[])[0]?.mac).toBe(want);
    ok(await cni('macvlan', 'DEL', conf, p));
  });
});

describe('master', () => {
  it('defaults to the interface of the host default route', async () => {
    ip('addr', 'add', '192.0.2.1/24', 'dev', MASTER);
    ip('route', 'add', 'default', 'via', '192.0.2.254', 'dev', MASTER);
    try {
      const { master: _m, ...conf } = net();
      const p = pod();
      const result = ok(await cni('macvlan', 'ADD', conf, p));
      expect(linkIn(p.name, 'net1')?.link_index).toBe(masterIndex);
      expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
      expect((await cni('macvlan', 'STATUS', { ...conf, cniVersion: '1.1.0' }, p)).code).toBe(0);
      ok(await cni('macvlan', 'DEL', conf, p));
    } finally {
      ip('route', 'del', 'default');
      ip('addr', 'del', '192.0.2.1/24', 'dev', MASTER);
    }
  });

  it('without a default route and without master: code 7, nothing reserved', async () => {
    const { master: _m, ...conf } = net();
    const p = pod();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.json).toMatchObject({
      code: 7,
      msg: expect.stringMatching(/^master: not set, and there is no default route/),
    });
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });

  it('missing: an error naming it, nothing created or reserved', async () => {
    const conf = net({ master: 'nosuchdev0' });
    const p = pod();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.json).toMatchObject({
      msg: 'failed to find master "nosuchdev0" in the host netns: no such device',
    });
    expect(podLinks(p.name)).toEqual([]);
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });

  it('mtu larger than the master’s: code 7, nothing created or reserved', async () => {
    const conf = net({ mtu: 9000 });
    const p = pod();
    const before = hostLinks();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 7,
      msg: `mtu: 9000 is larger than the MTU 1500 of master "${MASTER}"`,
    });
    expect(podLinks(p.name)).toEqual([]);
    expect(hostLinks()).toEqual(before);
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });

  it('linkInContainer: the master is in the pod, and so is the macvlan', async () => {
    const p = pod();
    ip('link', 'add', 'inmst', 'netns', p.name, 'type', 'veth', 'peer', 'name', 'inmstp', 'netns', p.name);
    ip('-n', p.name, 'link', 'set', 'inmst', 'up');
    const conf = net({ master: 'inmst', linkInContainer: true });
    const before = hostLinks();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    const l = linkIn(p.name, 'net1');
    expect(l?.link).toBe('inmst'); // iproute2 names a parent in the same namespace
    expect(l?.link_netnsid).toBeUndefined();
    expect(hostLinks()).toEqual(before);
    expect(await cni('macvlan', 'CHECK', { ...conf, prevResult: result }, p)).toMatchObject({ code: 0 });
    // the master is looked up in the pod, not the host
    const host = await cni('macvlan', 'ADD', { ...net({ master: 'inmst' }) }, pod());
    expect(host.json).toMatchObject({
      msg: 'failed to find master "inmst" in the host netns: no such device',
    });
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(podLinks(p.name).sort()).toEqual(['inmst', 'inmstp']);
  });
});

describe('ADD failures leave nothing behind', () => {
  it('an interface of that name already in the pod: fails, no second reservation, the old link intact', async () => {
    const conf = net();
    const p = pod();
    const first = ok(await cni('macvlan', 'ADD', conf, p));
    const mac = linkIn(p.name, 'net1')?.address;
    const again = await cni('macvlan', 'ADD', conf, p);
    expect(again.code).toBe(1);
    expect(again.json?.msg).toMatch(/"net1".*already exists/);
    expect(reservations(dataDir, conf.name)).toEqual([`${conf.prefix}.10`]);
    expect(linkIn(p.name, 'net1')?.address).toBe(mac);
    // another container, same pod ifname clash: also no reservation
    const other = await cni('macvlan', 'ADD', conf, { ...p, containerId: uniq('ctr') });
    expect(other.code).toBe(1);
    expect(reservations(dataDir, conf.name)).toEqual([`${conf.prefix}.10`]);
    ok(await cni('macvlan', 'DEL', { ...conf, prevResult: first }, p));
  });

  it('an invalid IPAM config: code 7 and no link at all (the reference leaks one here)', async () => {
    const conf = net({}, { ranges: [[{ subnet: '10.64.0.0/33' }]] });
    const p = pod();
    const before = hostLinks();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.json).toMatchObject({
      code: 7,
      msg: expect.stringMatching(/^ipam\.ranges\[0\]\[0\]\.subnet: /),
    });
    expect(podLinks(p.name)).toEqual([]);
    expect(hostLinks()).toEqual(before);
    const badType = await cni('macvlan', 'ADD', net({}, { type: '../../bin/sh' }), p);
    expect(badType.json).toMatchObject({
      code: 7,
      msg: expect.stringMatching(/^ipam\.type: invalid plugin type/),
    });
    expect(podLinks(p.name)).toEqual([]);
  });

  it('an exhausted pool: a clear error, the link removed, nothing reserved for the newcomer', async () => {
    const conf = net(
      {},
      { ranges: [[{ subnet: '10.65.0.0/24', rangeStart: '10.65.0.10', rangeEnd: '10.65.0.10' }]] },
    );
    const p1 = pod();
    ok(await cni('macvlan', 'ADD', conf, p1));
    const p2 = pod();
    const before = hostLinks();
    const r = await cni('macvlan', 'ADD', conf, p2);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 999,
      msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.65.0.10-10.65.0.10',
    });
    expect(podLinks(p2.name)).toEqual([]);
    expect(hostLinks()).toEqual(before);
    expect(reservations(dataDir, conf.name)).toEqual(['10.65.0.10']);
    expect(reservation(dataDir, conf.name, '10.65.0.10')).toBe(`${p1.containerId}\r\nnet1`);
    ok(await cni('macvlan', 'DEL', conf, p1));
  });

  it('a failure after IPAM (route that cannot be added): link removed and address released', async () => {
    const conf = net({}, { routes: [{ dst: '10.99.0.0/16', gw: '203.0.113.1' }] }); // gw not on link
    const p = pod();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.code).toBe(1);
    expect(r.json?.msg).toMatch(
      /^failed to add route 10\.99\.0\.0\/16 via 203\.0\.113\.1 on interface "net1": /,
    );
    expect(podLinks(p.name)).toEqual([]);
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });
});

describe('more ADD edges', () => {
  it('a CNI_NETNS that is not a network namespace: code 8, nothing reserved', async () => {
    const conf = net();
    const file = join(work, 'not-a-netns');
    writeFileSync(file, '');
    const r = await cni('macvlan', 'ADD', conf, { ...pod(), netns: file });
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 8,
      msg: `failed to open netns "${file}": not a network namespace`,
    });
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });

  it('an interface name that exists in the host is fine in the pod (temporary name at creation)', async () => {
    const conf = net();
    const p = pod(MASTER);
    ok(await cni('macvlan', 'ADD', conf, p));
    expect(linkIn(p.name, MASTER)?.linkinfo?.info_kind).toBe('macvlan');
    expect(linkIn(undefined, MASTER)?.linkinfo?.info_kind).toBe('veth');
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(podLinks(p.name)).toEqual([]);
  });

  it('IPv6 duplicate address detection failing: the error says so, link removed, address released', async () => {
    // a neighbour on the same master already holds the address (macvlan bridge mode relays DAD)
    const other = newNetns();
    ip('link', 'add', 'dadnb', 'link', MASTER, 'netns', other.name, 'type', 'macvlan', 'mode', 'bridge');
    ip('-n', other.name, 'link', 'set', 'dadnb', 'up');
    ip('-n', other.name, 'addr', 'add', 'fd67::5/64', 'dev', 'dadnb', 'nodad');
    const { prefix: _p, ...conf } = net(
      {},
      {
        type: 'static',
        addresses: [{ address: 'fd67::5/64', gateway: 'fd67::1' }],
        routes: [{ dst: '::/0' }],
      },
    );
    const p = pod();
    const r = await cni('macvlan', 'ADD', conf, p);
    expect(r.json?.msg).toBe(
      'failed to settle addresses for "net1": fd67::5/64 failed duplicate address detection',
    );
    expect(podLinks(p.name)).toEqual([]);
  });

  it('DNS: the config’s dns wins; without it, the IPAM’s (host-local resolvConf) is passed on', async () => {
    const resolv = join(work, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.68.0.53\nsearch svc.example\n');
    const conf = net({}, { resolvConf: resolv });
    const p = pod();
    const viaIpam = ok(await cni('macvlan', 'ADD', conf, p));
    // the reference prints the config's dns only ({} here): a deliberate difference
    expect(viaIpam.dns).toEqual({ nameservers: ['10.68.0.53'], search: ['svc.example'] });
    ok(await cni('macvlan', 'DEL', conf, p));
    const own = { ...conf, dns: { nameservers: ['1.1.1.1'] } };
    expect(ok(await cni('macvlan', 'ADD', own, p)).dns).toEqual({ nameservers: ['1.1.1.1'] });
    ok(await cni('macvlan', 'DEL', own, p));
  });
});

describe('DEL', () => {
  it('with CNI_NETNS empty: releases the address (the link goes with the pod)', async () => {
    const conf = net();
    const p = pod();
    ok(await cni('macvlan', 'ADD', conf, p));
    expect(reservations(dataDir, conf.name)).toHaveLength(1);
    expect(await cni('macvlan', 'DEL', conf, { ...p, netns: '' })).toMatchObject({ code: 0, stdout: '' });
    expect(reservations(dataDir, conf.name)).toEqual([]);
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(podLinks(p.name)).toEqual([]);
  });

  it('with the netns already deleted: releases the address, succeeds, and again', async () => {
    const conf = net();
    const p = pod();
    ok(await cni('macvlan', 'ADD', conf, p));
    delNetns(p.name);
    expect(await cni('macvlan', 'DEL', conf, p)).toMatchObject({ code: 0, stdout: '' });
    expect(reservations(dataDir, conf.name)).toEqual([]);
    expect(await cni('macvlan', 'DEL', conf, p)).toMatchObject({ code: 0 });
  });

  it('with the link already gone: success, address released', async () => {
    const conf = net();
    const p = pod();
    ok(await cni('macvlan', 'ADD', conf, p));
    ip('-n', p.name, 'link', 'del', 'net1');
    expect(await cni('macvlan', 'DEL', conf, p)).toMatchObject({ code: 0 });
    expect(reservations(dataDir, conf.name)).toEqual([]);
  });
});

describe('CHECK', () => {
  async function attached(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) {
    const conf = net(extra, { routes: [{ dst: '0.0.0.0/0' }, { dst: '10.70.0.0/16' }], ...ipam });
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', conf, p));
    return { conf: { ...conf, prevResult: result }, p, result };
  }

  it('passes routes given without gw (the reference fails them)', async () => {
    const { conf, p } = await attached();
    expect(await cni('macvlan', 'CHECK', conf, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('fails once the address is removed', async () => {
    const { conf, p } = await attached();
    ip('-n', p.name, 'addr', 'del', `${conf.prefix}.10/24`, 'dev', 'net1');
    const r = await cni('macvlan', 'CHECK', conf, p);
    expect(r.json).toMatchObject({
      code: 999,
      msg: `address ${conf.prefix}.10/24 of the result is missing on interface "net1"`,
    });
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('fails once a route is removed', async () => {
    const { conf, p } = await attached();
    ip('-n', p.name, 'route', 'del', '10.70.0.0/16');
    const r = await cni('macvlan', 'CHECK', conf, p);
    expect(r.json?.msg).toBe(
      `route 10.70.0.0/16 via ${conf.prefix}.1 of the result is missing on interface "net1"`,
    );
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('fails once the MAC changed', async () => {
    const { conf, p, result } = await attached();
    ip('-n', p.name, 'link', 'set', 'net1', 'address', '0a:58:00:00:99:99');
    const r = await cni('macvlan', 'CHECK', conf, p);
    const mac = (result.interfaces as { mac: string }[])[0]?.mac;
    expect(r.json?.msg).toBe(`interface "net1" has MAC 0a:58:00:00:99:99, prevResult says ${mac}`);
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('fails when the mode differs from the config, when the link is gone, when IPAM lost it', async () => {
    const { conf, p } = await attached();
    expect((await cni('macvlan', 'CHECK', { ...conf, mode: 'vepa' }, p)).json?.msg).toBe(
      'macvlan "net1" is in mode bridge, config says vepa',
    );
    expect((await cni('macvlan', 'CHECK', { ...conf, name: 'other-net' }, p)).json?.msg).toBe(
      `host-local: failed to find address added by container ${p.containerId}`,
    );
    ip('-n', p.name, 'link', 'del', 'net1');
    expect((await cni('macvlan', 'CHECK', conf, p)).json?.msg).toBe(
      `interface "net1" of prevResult is missing in netns "${p.netns}"`,
    );
    ok(await cni('macvlan', 'DEL', conf, p));
  });

  it('needs a prevResult (code 7), and refuses under 0.3.1 (code 1)', async () => {
    const conf = net();
    const p = pod();
    expect((await cni('macvlan', 'CHECK', conf, p)).json).toMatchObject({ code: 7 });
    expect((await cni('macvlan', 'CHECK', { ...conf, cniVersion: '0.3.1' }, p)).json).toMatchObject({
      code: 1,
    });
  });
});

describe('STATUS and GC (1.1.0)', () => {
  it('STATUS passes with the master present, 50 without it or with a full pool', async () => {
    const conf = net(
      { cniVersion: '1.1.0' },
      { ranges: [[{ subnet: '10.66.0.0/24', rangeStart: '10.66.0.5', rangeEnd: '10.66.0.5' }]] },
    );
    const call = { netns: '', containerId: 'x', ifname: 'net1' };
    expect(await cni('macvlan', 'STATUS', conf, call)).toMatchObject({ code: 0, stdout: '' });
    expect((await cni('macvlan', 'STATUS', { ...conf, master: 'nosuchdev0' }, call)).json).toMatchObject({
      code: 50,
      msg: 'failed to find master "nosuchdev0" in the host netns: no such device',
    });
    const p = pod();
    ok(await cni('macvlan', 'ADD', conf, p));
    expect((await cni('macvlan', 'STATUS', conf, call)).json).toMatchObject({ code: 50 });
    ok(await cni('macvlan', 'DEL', conf, p));
    expect(await cni('macvlan', 'STATUS', conf, call)).toMatchObject({ code: 0 });
    expect((await cni('macvlan', 'STATUS', { ...conf, cniVersion: '1.0.0' }, call)).json).toMatchObject({
      code: 1,
    });
  });

  it('GC releases the reservations not in cni.dev/valid-attachments', async () => {
    const conf = net({ cniVersion: '1.1.0' });
    const pods = [pod(), pod(), pod()];
    for (const p of pods) ok(await cni('macvlan', 'ADD', conf, p));
    expect(reservations(dataDir, conf.name)).toHaveLength(3);
    const keep = pods[1] as Call;
    const gc = await cni(
      'macvlan',
      'GC',
      { ...conf, 'cni.dev/valid-attachments': [{ containerID: keep.containerId, ifname: 'net1' }] },
      { netns: '', containerId: '', ifname: '', path: ['/nonexistent'] },
    );
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    expect(reservations(dataDir, conf.name)).toEqual([`${conf.prefix}.11`]);
    expect(reservation(dataDir, conf.name, `${conf.prefix}.11`)).toBe(`${keep.containerId}\r\nnet1`);
    for (const p of pods) ok(await cni('macvlan', 'DEL', conf, p));
  });
});
