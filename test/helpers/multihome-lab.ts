/**
 * The multi-homing lab for the integration tests (docs/multihoming.md), inside the test
 * file's own "host" namespace: segment A (the cluster network: eth0, a gateway host that
 * routes nowhere else), segment B (net1: a router to a far subnet C with a peer on it), each
 * pod interface a macvlan on an uplink of its segment; and the meta-plugin driven in-process
 * against it, with what the tests read back (rules, default routes, a snapshot of the pod).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect } from 'vitest';
import { ip, ipJson, isolateHost, newNetns } from './host.ts';
import { podLinks, reservations } from './inproc.ts';
import { lanHost, router, segment, uplink } from './lan.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from './reference.ts';
import { scratchDir } from './scratch.ts';
import { builtinLoader, runWith } from './skel.ts';

export const tmp = scratchDir('mf-mh-');
export const dataDir = join(tmp, 'ipam');
export const cniDir = join(tmp, 'cache');
export const logFile = join(tmp, 'manifold.log');
export const meta = builtinLoader('manifold');

/** The lab's names, filled in by setupLab's beforeAll. */
export const lab = { upA: '', upB: '', brB: '', peerNs: '' };

export function hostLocal(name: string, ranges: object[][], routes: object[] = []) {
  return { type: 'host-local', dataDir, ranges, routes, name };
}
export const RANGE_A = [[{ subnet: '10.40.0.0/24' }], [{ subnet: '2001:db8:40::/64' }]];
export const RANGE_B = [[{ subnet: '10.41.0.0/24' }], [{ subnet: '2001:db8:41::/64' }]];
export const DEFAULTS = [{ dst: '0.0.0.0/0' }, { dst: '::/0' }];

export function eth0(): object {
  return {
    cniVersion: '1.0.0',
    name: 'net-a',
    type: 'macvlan',
    master: lab.upA,
    ipam: hostLocal('net-a', RANGE_A, DEFAULTS),
  };
}
export function net1(extra: object = {}, ipam: object = hostLocal('net-b', RANGE_B)): object {
  return { cniVersion: '1.0.0', name: 'net-b', type: 'macvlan', master: lab.upB, ipam, ...extra };
}
export function metaConf(delegates: object[], extra: object = {}) {
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

export interface Res {
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
}

let n = 0;
export type Pod = ReturnType<typeof pod>;

export function pod(ifname = 'eth0') {
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
export function addrOf(res: Res, ifname: string, family: 4 | 6): string {
  const index = res.interfaces.findIndex((i) => i.name === ifname && i.sandbox);
  const a = res.ips.find((i) => i.interface === index && i.address.includes(':') === (family === 6));
  if (!a) throw new Error(`no IPv${family} address on ${ifname} in ${JSON.stringify(res)}`);
  return a.address.split('/')[0] as string;
}

/** The result's default routes as `<dst> <interface>`: the interface is the one whose gateway it goes via. */
export function defaultsOf(res: Res): string[] {
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

export interface IpRule {
  priority: number;
  src?: string;
  table: string;
  protocol?: string;
}
/** The pod's rules other than the kernel's three (local, main, default). */
export function rules(ns: string, family: '-4' | '-6'): IpRule[] {
  return ipJson<IpRule[]>('-n', ns, family, 'rule', 'show').filter((r) => r.src !== 'all');
}
export function defaults(ns: string, family: '-4' | '-6'): { dev: string; gateway?: string }[] {
  return ipJson<{ dst: string; dev: string; gateway?: string }[]>(
    '-n',
    ns,
    family,
    'route',
    'show',
    'default',
  );
}

/** Moves the test file into its own host namespace and builds the lab there before its tests. */
export function setupLab(): void {
  isolateHost();
  beforeAll(buildLab);
}

function buildLab(): void {
  requireReferencePlugins('host-device', 'host-local');
  const brA = segment('sa');
  lab.brB = segment('sb');
  const brC = segment('sc');
  lab.upA = uplink(brA, 'ua');
  lab.upB = uplink(lab.brB, 'ub');
  lanHost(brA, ['10.40.0.1/24', '2001:db8:40::1/64']); // eth0's gateway: routes nowhere else
  const rtr = router(lab.brB, ['10.41.0.1/24', '2001:db8:41::1/64'], brC, [
    '10.49.0.1/24',
    '2001:db8:49::1/64',
  ]);
  ip('-n', rtr, 'addr', 'add', 'fe80::1/64', 'dev', 'eth0', 'nodad'); // a router known by its link-local address
  lab.peerNs = lanHost(brC, ['10.49.0.7/24', '2001:db8:49::7/64'], {
    gateways: ['10.49.0.1', '2001:db8:49::1'],
  }).ns;
}

/** The meta-plugin's cache files that belong to a container (`<network>-<id>-<ifname>`). */
export function cacheFiles(containerId: string): string[] {
  if (!existsSync(cniDir)) return [];
  return readdirSync(cniDir).filter((f) => f.includes(`-${containerId}-`));
}

/** Nothing of an attachment is left: no pod interface, IP reservation, cache or source rule. */
export function nothingLeft(p: ReturnType<typeof pod>): void {
  expect(podLinks(p.ns.name)).toEqual([]);
  expect(reservations(dataDir, 'net-a')).toEqual([]);
  expect(reservations(dataDir, 'net-b')).toEqual([]);
  expect(cacheFiles(p.env.CNI_CONTAINERID)).toEqual([]);
  expect(rules(p.ns.name, '-4')).toEqual([]);
  expect(rules(p.ns.name, '-6')).toEqual([]);
}

/** Everything of a pod namespace DEL must put back: rules, routes of every table, net.* sysctls. */
export function snapshot(ns: string): { rules: string; routes: string; sysctls: string[] } {
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

export const ALL_ON = {
  policyRouting: true,
  announce: true,
  addressConflictCheck: true,
  gatewayCheck: 'fail',
  multihomeSysctls: true,
  macFromIPv4: '0a:58',
};
