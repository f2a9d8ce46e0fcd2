/**
 * Multi-homing on the real kernel (docs/multihoming.md), the meta-plugin driven in-process.
 * Inside the test's "host" namespace: segment A (the cluster network: eth0, a gateway host),
 * segment B (net1: a router to a far subnet C with a peer on it, neighbours, a host holding a
 * duplicate address), each pod interface a macvlan on an uplink of its segment (or a device
 * given to Debian's host-device, which announces nothing itself). IPv4 and IPv6 throughout.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { podLinks, reservations, sysctlIn } from '../helpers/inproc.ts';
import { lanHost, neighbourMac, pings, router, segment, uplink } from '../helpers/lan.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

isolateHost();
const tmp = mkdtempSync(join(tmpdir(), 'mf-mh-'));
const dataDir = join(tmp, 'ipam');
const cniDir = join(tmp, 'cache');
const logFile = join(tmp, 'manifold.log');
const meta = builtinLoader('manifold');

let upA = '';
let upB = '';
let brB = '';
let peerNs = '';

function hostLocal(name: string, ranges: object[][], routes: object[] = []) {
  return { type: 'host-local', dataDir, ranges, routes, name };
}
const RANGE_A = [[{ subnet: '10.40.0.0/24' }], [{ subnet: '2001:db8:40::/64' }]];
const RANGE_B = [[{ subnet: '10.41.0.0/24' }], [{ subnet: '2001:db8:41::/64' }]];
const DEFAULTS = [{ dst: '0.0.0.0/0' }, { dst: '::/0' }];

function eth0(): object {
  return {
    cniVersion: '1.0.0',
    name: 'net-a',
    type: 'macvlan',
    master: upA,
    ipam: hostLocal('net-a', RANGE_A, DEFAULTS),
  };
}
function net1(extra: object = {}, ipam: object = hostLocal('net-b', RANGE_B)): object {
  return { cniVersion: '1.0.0', name: 'net-b', type: 'macvlan', master: upB, ipam, ...extra };
}
function metaConf(delegates: object[], extra: object = {}) {
  return {
    cniVersion: '1.1.0',
    name: 'pod-nets',
    type: 'manifold',
    cniDir,
    logFile,
    logLevel: 'verbose',
    delegates,
    ...extra,
  };
}

interface Res {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
}

let n = 0;
function pod(ifname = 'eth0') {
  const ns = newNetns();
  const env = {
    CNI_CONTAINERID: `mh${++n}`,
    CNI_NETNS: ns.path,
    CNI_IFNAME: ifname,
    CNI_PATH: REFERENCE_PLUGIN_DIR,
  };
  const call = (command: string, conf: object, prev?: object) =>
    runWith(
      meta,
      { ...env, CNI_COMMAND: command },
      JSON.stringify(prev ? { ...conf, prevResult: prev } : conf),
    );
  const add = async (conf: object): Promise<Res> => {
    const r = await call('ADD', conf);
    expect(r.code, r.stdout).toBe(0);
    return r.json as unknown as Res;
  };
  const del = async (conf: object) => {
    const r = await call('DEL', conf);
    expect(r.code, r.stdout).toBe(0);
  };
  return { ns, env, call, add, del };
}

/** The host address of `ifname` of `family` in a result. */
function addrOf(res: Res, ifname: string, family: 4 | 6): string {
  const index = res.interfaces.findIndex((i) => i.name === ifname && i.sandbox);
  const a = res.ips.find((i) => i.interface === index && i.address.includes(':') === (family === 6));
  if (!a) throw new Error(`no IPv${family} address on ${ifname} in ${JSON.stringify(res)}`);
  return a.address.split('/')[0] as string;
}

/** The result's default routes as `<dst> <interface>`: the interface is the one whose gateway it goes via. */
function defaultsOf(res: Res): string[] {
  return res.routes
    .filter((r) => r.dst.endsWith('/0'))
    .map((r) => {
      const fam6 = r.dst.includes(':');
      const ipc = res.ips.find(
        (i) =>
          i.address.includes(':') === fam6 &&
          i.gateway !== undefined &&
          (r.gw === undefined || i.gateway === r.gw),
      );
      return `${r.dst} ${res.interfaces[ipc?.interface ?? -1]?.name}`;
    });
}

interface IpRule {
  priority: number;
  src?: string;
  table: string;
  protocol?: string;
}
/** The pod's rules other than the kernel's three (local, main, default). */
function rules(ns: string, family: '-4' | '-6'): IpRule[] {
  return ipJson<IpRule[]>('-n', ns, family, 'rule', 'show').filter((r) => r.src !== 'all');
}
function defaults(ns: string, family: '-4' | '-6'): { dev: string; gateway?: string }[] {
  return ipJson<{ dst: string; dev: string; gateway?: string }[]>(
    '-n',
    ns,
    family,
    'route',
    'show',
    'default',
  );
}

beforeAll(() => {
  requireReferencePlugins('host-device', 'host-local');
  const brA = segment('sa');
  brB = segment('sb');
  const brC = segment('sc');
  upA = uplink(brA, 'ua');
  upB = uplink(brB, 'ub');
  lanHost(brA, ['10.40.0.1/24', '2001:db8:40::1/64']); // eth0's gateway: routes nowhere else
  const rtr = router(brB, ['10.41.0.1/24', '2001:db8:41::1/64'], brC, ['10.49.0.1/24', '2001:db8:49::1/64']);
  ip('-n', rtr, 'addr', 'add', 'fe80::1/64', 'dev', 'eth0', 'nodad'); // a router known by its link-local address
  peerNs = lanHost(brC, ['10.49.0.7/24', '2001:db8:49::7/64'], {
    gateways: ['10.49.0.1', '2001:db8:49::1'],
  }).ns;
});

describe('policyRouting', () => {
  it('answers a peer beyond net1 through net1 only with policyRouting, the default route on eth0', async () => {
    const p = pod();
    const off = metaConf([eth0(), net1()]);
    const r0 = await p.add(off);
    let [v4, v6] = [addrOf(r0, 'net1', 4), addrOf(r0, 'net1', 6)];
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['eth0']);
    expect(defaults(p.ns.name, '-6').map((d) => d.dev)).toEqual(['eth0']);
    expect(pings(peerNs, v4), 'without policyRouting the reply leaves by eth0').toBe(false);
    expect(pings(peerNs, v6)).toBe(false);
    expect(rules(p.ns.name, '-4')).toEqual([]);
    await p.del(off);

    const on = metaConf([eth0(), net1()], { policyRouting: true });
    const r1 = await p.add(on);
    [v4, v6] = [addrOf(r1, 'net1', 4), addrOf(r1, 'net1', 6)];
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['eth0']);
    expect(pings(peerNs, v4), 'with policyRouting the reply leaves by net1').toBe(true);
    expect(pings(peerNs, v6)).toBe(true);
    const index = ipJson<{ ifindex: number }[]>('-n', p.ns.name, 'link', 'show', 'net1')[0]?.ifindex ?? 0;
    const table = String(10000 + index);
    expect(rules(p.ns.name, '-4')).toEqual([{ priority: 30000, src: v4, table, protocol: '109' }]);
    expect(rules(p.ns.name, '-6')).toEqual([{ priority: 30000, src: v6, table, protocol: '109' }]);
    const t4 = ipJson<{ dst: string; gateway?: string; dev: string }[]>(
      '-n',
      p.ns.name,
      'route',
      'show',
      'table',
      table,
    );
    expect(t4.map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev}`).sort()).toEqual([
      '10.41.0.0/24  net1',
      'default 10.41.0.1 net1',
    ]);
    const check = await p.call('CHECK', on, r1 as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(on);
    expect(rules(p.ns.name, '-4')).toEqual([]);
    expect(rules(p.ns.name, '-6')).toEqual([]);
    expect(podLinks(p.ns.name)).toEqual([]);
  });
});

/** Nothing of an attachment is left: no pod interface, IP reservation, cache or source rule. */
function nothingLeft(p: ReturnType<typeof pod>): void {
  expect(podLinks(p.ns.name)).toEqual([]);
  expect(reservations(dataDir, 'net-a')).toEqual([]);
  expect(reservations(dataDir, 'net-b')).toEqual([]);
  expect(existsSync(join(cniDir, p.env.CNI_CONTAINERID))).toBe(false);
  expect(rules(p.ns.name, '-4')).toEqual([]);
  expect(rules(p.ns.name, '-6')).toEqual([]);
}

describe('addressConflictCheck', () => {
  it('fails ADD naming the IPv4 address and the MAC holding it, and leaves nothing', async () => {
    const holder = lanHost(brB, ['10.41.0.77/24'], { mac: '02:00:00:00:77:01' });
    const ipam = hostLocal('net-b', [
      [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.77', rangeEnd: '10.41.0.77' }],
    ]);
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to claim address "10.41.0.77" on interface "net1": already in use by 02:00:00:00:77:01',
    );
    nothingLeft(p);
    // without the check the same ADD succeeds: the conflict goes unnoticed
    const q = pod();
    const res = await q.add(metaConf([eth0(), net1({}, ipam)]));
    expect(addrOf(res, 'net1', 4)).toBe('10.41.0.77');
    await q.del(metaConf([eth0(), net1({}, ipam)]));
    ip('netns', 'del', holder.ns);
  });

  it('fails ADD on a duplicate IPv6 address (kernel DAD, or own probes without DAD), naming the MAC', async () => {
    const holder = lanHost(brB, ['2001:db8:41::77/64'], { mac: '02:00:00:00:77:02' });
    // static IPAM without a gateway: the delegate does not wait for DAD, so only the check sees it
    const ipam = { type: 'static', addresses: [{ address: '2001:db8:41::77/64' }] };
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to claim address "2001:db8:41::77" on interface "net1": already in use by 02:00:00:00:77:02',
    );
    nothingLeft(p);
    const q = pod();
    await q.add(metaConf([eth0(), net1({}, ipam)]));
    await q.del(metaConf([eth0(), net1({}, ipam)]));
    // where the kernel does no DAD (accept_dad=0, as the bridge plugin sets), manifold probes itself
    const o = pod();
    ip('netns', 'exec', o.ns.name, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0');
    const noDad = await o.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(noDad.json?.msg).toBe(
      'failed to claim address "2001:db8:41::77" on interface "net1": already in use by 02:00:00:00:77:02',
    );
    nothingLeft(o);
    ip('netns', 'del', holder.ns);
  });

  it('is not fooled by the pod itself answering on another interface of the same segment (ARP flux)', async () => {
    const p = pod();
    const upper = hostLocal('net-b2', [
      [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.200' }],
      [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::200' }],
    ]);
    const second = {
      ...(net1({}, upper) as Record<string, unknown>),
      name: 'net-b2',
      master: uplink(brB, 'ub2'),
    };
    const conf = metaConf([net1(), second], { addressConflictCheck: true });
    await p.add(conf);
    await p.del(conf);
  });

  it('passes addresses nobody holds (IPv4 and IPv6) and keeps them', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { addressConflictCheck: true });
    const res = await p.add(conf);
    expect(addrOf(res, 'net1', 4)).toMatch(/^10\.41\.0\./);
    expect(addrOf(res, 'eth0', 6)).toMatch(/^2001:db8:40::/);
    await p.del(conf);
    nothingLeft(p);
  });
});

describe('gatewayCheck', () => {
  const deadGw = hostLocal('net-b', [
    [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.10', gateway: '10.41.0.254' }],
    [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::10', gateway: '2001:db8:41::fe' }],
  ]);

  it('warn: logs a gateway that does not answer, and attaches anyway', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({}, deadGw)], {
      gatewayCheck: 'warn',
      probeCount: 2,
      probeIntervalMs: 50,
    });
    await p.add(conf);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toContain(
      `ADD ${p.env.CNI_CONTAINERID}: warning: gateway "10.41.0.254" of interface "net1" did not answer 2 ARP requests in 100 ms (gatewayCheck "warn": attached anyway)`,
    );
    expect(log).toContain(
      `ADD ${p.env.CNI_CONTAINERID}: warning: gateway "2001:db8:41::fe" of interface "net1" did not answer 2 neighbour solicitations in 100 ms`,
    );
    expect(log).not.toMatch(new RegExp(`${p.env.CNI_CONTAINERID}: warning: gateway "10\\.40\\.0\\.1"`));
    await p.del(conf);
  });

  it('fail: refuses a dead gateway naming it, and rolls back', async () => {
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, deadGw)], { gatewayCheck: 'fail' }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to reach the gateway: gateway "10.41.0.254" of interface "net1" did not answer 3 ARP requests in 300 ms; ' +
        'gateway "2001:db8:41::fe" of interface "net1" did not answer 3 neighbour solicitations in 300 ms',
    );
    nothingLeft(p);
  });

  it('fail: passes gateways that answer (the router on net1, the gateway host on eth0)', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { gatewayCheck: 'fail' });
    await p.add(conf);
    await p.del(conf);
    nothingLeft(p);
  });

  it('asks a link-local IPv6 gateway from the link-local address, and refuses a dead one', async () => {
    const ll = (gateway: string) => ({
      type: 'static',
      addresses: [{ address: '2001:db8:41::50/64', gateway }],
    });
    const p = pod();
    const live = metaConf([eth0(), net1({}, ll('fe80::1'))], { gatewayCheck: 'fail' });
    await p.add(live);
    await p.del(live);
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ll('fe80::99'))], { gatewayCheck: 'fail' }));
    expect(r.json?.msg).toBe(
      'failed to reach the gateway: gateway "fe80::99" of interface "net1" did not answer 3 neighbour solicitations in 300 ms',
    );
    nothingLeft(p);
  });

  it('is per delegate: off for one network, fail for the meta config', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({ manifold: { gatewayCheck: 'off' } }, deadGw)], {
      gatewayCheck: 'fail',
    });
    await p.add(conf);
    await p.del(conf);
  });
});

describe('announce', () => {
  it('teaches a neighbour that accepts gratuitous ARP and unsolicited NA the MAC before any traffic', async () => {
    // a router-like neighbour: arp_accept for IPv4; forwarding + accept_untracked_na for IPv6
    const nb = lanHost(brB, ['10.41.0.9/24', '2001:db8:41::9/64'], {
      sysctls: {
        'net.ipv4.conf.eth0.arp_accept': '1',
        'net.ipv6.conf.eth0.forwarding': '1',
        'net.ipv6.conf.eth0.accept_untracked_na': '1',
      },
    });
    // host-device (Debian's) sets neither arp_notify nor ndisc_notify: the kernel announces nothing
    const dev = uplink(brB, 'hd');
    const hd = {
      cniVersion: '1.0.0',
      name: 'net-b',
      type: 'host-device',
      device: dev,
      ipam: hostLocal('net-b', [
        [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.100', rangeEnd: '10.41.0.100' }],
        [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::100', rangeEnd: '2001:db8:41::100' }],
      ]),
    };
    const p = pod();
    const quiet = metaConf([eth0(), hd]);
    await p.add(quiet);
    expect(neighbourMac(nb.ns, '10.41.0.100'), 'no announcement without announce').toBeUndefined();
    expect(neighbourMac(nb.ns, '2001:db8:41::100')).toBeUndefined();
    await p.del(quiet);

    const loud = metaConf([eth0(), hd], { announce: true });
    const res = await p.add(loud);
    const mac = res.interfaces.find((i) => i.name === 'net1' && i.sandbox)?.mac;
    expect(mac).toMatch(/^[0-9a-f:]{17}$/);
    expect(neighbourMac(nb.ns, '10.41.0.100')).toBe(mac);
    expect(neighbourMac(nb.ns, '2001:db8:41::100')).toBe(mac);
    await p.del(loud);
    nothingLeft(p);
  });
});

describe('one default route per family', () => {
  it('keeps only the master default routes when a secondary IPAM gives default routes too', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({}, hostLocal('net-b', RANGE_B, DEFAULTS))]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4')).toEqual([
      expect.objectContaining({ dev: 'eth0', gateway: '10.40.0.1' }),
    ]);
    expect(defaults(p.ns.name, '-6')).toEqual([
      expect.objectContaining({ dev: 'eth0', gateway: '2001:db8:40::1' }),
    ]);
    expect(defaultsOf(res)).toEqual(['0.0.0.0/0 eth0', '::/0 eth0']);
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
  });

  it.each([
    ['its IPAM gives default routes', DEFAULTS],
    ['its IPAM gives only gateways', []],
  ])('moves the default routes to the delegate marked defaultRoute when %s', async (_, routes) => {
    const p = pod();
    const conf = metaConf([
      eth0(),
      net1({ manifold: { defaultRoute: true } }, hostLocal('net-b', RANGE_B, routes)),
    ]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4')).toEqual([
      expect.objectContaining({ dev: 'net1', gateway: '10.41.0.1' }),
    ]);
    expect(defaults(p.ns.name, '-6')).toEqual([
      expect.objectContaining({ dev: 'net1', gateway: '2001:db8:41::1' }),
    ]);
    expect(defaultsOf(res)).toEqual(['0.0.0.0/0 net1', '::/0 net1']);
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
    nothingLeft(p);
  });

  it('moves only the families the defaultRoute delegate has a gateway for', async () => {
    const p = pod();
    const v4only = hostLocal('net-b', [[{ subnet: '10.41.0.0/24' }]]);
    const conf = metaConf([eth0(), net1({ manifold: { defaultRoute: true } }, v4only)]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['net1']);
    expect(defaults(p.ns.name, '-6').map((d) => d.dev)).toEqual(['eth0']);
    expect(defaultsOf(res)).toEqual(['::/0 eth0', '0.0.0.0/0 net1']);
    await p.del(conf);
  });

  it('CHECK fails when an interface without a default route in its result has one in the kernel', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { policyRouting: true });
    const res = await p.add(conf);
    ip('-n', p.ns.name, 'route', 'add', 'default', 'via', '10.41.0.1', 'dev', 'net1', 'metric', '50');
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code).toBe(1);
    expect(String(check.json?.msg)).toMatch(
      /^interface "net1" has a default route \(0\.0\.0\.0\/0 via 10\.41\.0\.1\)/,
    );
    await p.del(conf);
  });
});

/** Everything of a pod namespace DEL must put back: rules, routes of every table, net.* sysctls. */
function snapshot(ns: string): { rules: string; routes: string; sysctls: string[] } {
  const sysctls = ip('netns', 'exec', ns, 'sysctl', '-a')
    .split('\n')
    .filter((l) => l.startsWith('net.'));
  return {
    rules: ip('-n', ns, '-4', 'rule') + ip('-n', ns, '-6', 'rule'),
    routes:
      ip('-n', ns, '-4', 'route', 'show', 'table', 'all') +
      ip('-n', ns, '-6', 'route', 'show', 'table', 'all'),
    sysctls,
  };
}

const ALL_ON = {
  policyRouting: true,
  announce: true,
  addressConflictCheck: true,
  gatewayCheck: 'fail',
  multihomeSysctls: true,
  macFromIPv4: '0a:58',
};

describe('DEL', () => {
  it('leaves no rule, table route or sysctl change behind, with every option on', async () => {
    const p = pod();
    // an interface of the pod's own that outlives the attachments
    ip('-n', p.ns.name, 'link', 'add', 'keep0', 'type', 'veth', 'peer', 'name', 'keep1');
    ip('-n', p.ns.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'keep0');
    ip('-n', p.ns.name, 'link', 'set', 'keep0', 'up');
    ip('-n', p.ns.name, 'link', 'set', 'keep1', 'up');
    // their link-local addresses settle first (those are the kernel's, not ours)
    await expect
      .poll(() => ip('-n', p.ns.name, '-6', 'route', 'show', 'table', 'local').match(/local fe80/g)?.length, {
        timeout: 5000,
      })
      .toBe(2);
    const before = snapshot(p.ns.name);
    const conf = metaConf([eth0(), net1()], ALL_ON);
    const res = await p.add(conf);
    const during = snapshot(p.ns.name);
    expect(during.rules).not.toBe(before.rules);
    expect(during.sysctls).toContain('net.ipv4.conf.net1.rp_filter = 2');
    expect(during.sysctls).toContain('net.ipv4.conf.eth0.arp_ignore = 1');
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
    const after = snapshot(p.ns.name);
    expect(after.rules).toBe(before.rules);
    expect(after.routes).toBe(before.routes);
    expect(after.sysctls).toEqual(before.sysctls);
    expect(podLinks(p.ns.name).sort()).toEqual(['keep0', 'keep1']);
    expect(reservations(dataDir, 'net-b')).toEqual([]);
  });

  it('removes exactly what ADD added while the interfaces are still there (before the delegates go)', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({ manifold: { defaultRoute: true } })], ALL_ON);
    const sysBefore = sysctlIn(p.ns.name, 'net/ipv4/conf/default/rp_filter');
    const res = await p.add(conf);
    const macs = Object.fromEntries(res.interfaces.filter((i) => i.sandbox).map((i) => [i.name, i.mac]));
    const v4 = addrOf(res, 'net1', 4);
    expect(macs.net1).toBe(
      `0a:58:${v4
        .split('.')
        .map((x) => Number(x).toString(16).padStart(2, '0'))
        .join(':')}`,
    );
    expect(ipJson<{ address: string }[]>('-n', p.ns.name, 'link', 'show', 'net1')[0]?.address).toBe(
      macs.net1,
    );
    // eth0 lost the default route to net1: it is the one with a table now
    expect(rules(p.ns.name, '-4').map((r) => r.src)).toEqual([addrOf(res, 'eth0', 4)]);
    expect(rules(p.ns.name, '-6').map((r) => r.src)).toEqual([addrOf(res, 'eth0', 6)]);
    expect(sysctlIn(p.ns.name, 'net/ipv4/conf/eth0/rp_filter')).toBe('2');
    expect(sysctlIn(p.ns.name, 'net/ipv6/conf/eth0/accept_ra_defrtr')).toBe('0');
    expect(sysctlIn(p.ns.name, 'net/ipv4/conf/net1/rp_filter')).toBe(sysBefore);

    // multi-homing's own DEL, run alone: the links stay, everything it did goes
    const { multihomeDel } = await import('../../src/meta/multihome/hooks.ts');
    const cache = JSON.parse(readFileSync(join(cniDir, p.env.CNI_CONTAINERID), 'utf8')) as {
      delegates: {
        ifname: string;
        master: boolean;
        defaultRoute: boolean;
        result: Res;
        multihome?: object;
      }[];
    };
    expect(cache.delegates.map((d) => d.multihome)).toEqual([
      expect.objectContaining({
        sysctls: expect.any(Object),
        tables: expect.any(Array),
        mac: expect.any(String),
      }),
      expect.objectContaining({ sysctls: expect.any(Object), mac: expect.any(String) }),
    ]);
    const { decodeResult } = await import('../../src/cni/result.ts');
    await multihomeDel(
      p.env.CNI_NETNS,
      cache.delegates.map((d) => ({
        delegate: { master: d.master, defaultRoute: d.defaultRoute },
        ifname: d.ifname,
        result: decodeResult(d.result, '1.0.0'),
        multihome: d.multihome,
      })),
    );
    expect(rules(p.ns.name, '-4')).toEqual([]);
    expect(rules(p.ns.name, '-6')).toEqual([]);
    const tables = ipJson<{ table?: string; protocol?: string }[]>(
      '-n',
      p.ns.name,
      'route',
      'show',
      'table',
      'all',
    );
    expect(tables.filter((r) => r.protocol === '109' || Number(r.table) >= 10000)).toEqual([]);
    for (const dev of ['eth0', 'net1']) {
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/rp_filter`)).toBe(sysBefore);
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/arp_ignore`)).toBe('0');
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/arp_announce`)).toBe('0');
      expect(sysctlIn(p.ns.name, `net/ipv6/conf/${dev}/accept_ra_defrtr`)).toBe('1');
      expect(ipJson<{ address: string }[]>('-n', p.ns.name, 'link', 'show', dev)[0]?.address).not.toMatch(
        /^0a:58:/,
      );
    }
    // the default route manifold added on net1 (its IPAM gave only a gateway) is gone too
    expect(defaults(p.ns.name, '-4')).toEqual([]);
    await p.del(conf);
    nothingLeft(p);
  });

  it('keeps two manifold calls on one pod apart (two networks, their own CNI_IFNAME)', async () => {
    const a = pod('eth0');
    const bDir = join(tmp, 'cache-b');
    const confA = metaConf([eth0(), net1()], { policyRouting: true });
    const netC = hostLocal('net-c', [[{ subnet: '10.42.0.0/24' }]]);
    const confB = {
      ...metaConf(
        [
          { cniVersion: '1.0.0', name: 'net-c', type: 'macvlan', master: upB, ipam: netC },
          {
            cniVersion: '1.0.0',
            name: 'net-d',
            type: 'macvlan',
            master: upB,
            ipam: hostLocal('net-d', [[{ subnet: '10.43.0.0/24' }]]),
            manifold: { ifname: 'net2' },
          },
        ],
        { policyRouting: true },
      ),
      cniDir: bDir,
    };
    await a.add(confA);
    const envB = { ...a.env, CNI_IFNAME: 'eth1' };
    const callB = (command: string) =>
      runWith(meta, { ...envB, CNI_COMMAND: command }, JSON.stringify(confB));
    const b = await callB('ADD');
    expect(b.code, b.stdout).toBe(0);
    const tables = (fam: '-4' | '-6') => rules(a.ns.name, fam).map((r) => r.table);
    const t = tables('-4');
    expect(t).toHaveLength(2);
    expect(new Set(t).size).toBe(2);
    const del = await callB('DEL');
    expect(del.code, del.stdout).toBe(0);
    expect(tables('-4')).toEqual([t[0]]);
    await a.del(confA);
    expect(rules(a.ns.name, '-4')).toEqual([]);
  });
});
