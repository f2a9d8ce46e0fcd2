/**
 * Drives a built-in plugin in-process through the skel (`runWith`), with the environment a
 * runtime would give it, and reads back what the integration tests assert: the kernel state
 * through `ip -j` (an independent view: iproute2, not manifold's own netlink code) and the
 * host-local store on disk.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ip, ipJson } from './host.ts';
import { builtinLoader, runWith, type SkelRun } from './skel.ts';

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

export interface Call {
  readonly netns: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly args?: string;
  readonly path?: readonly string[];
}

/** Runs `verb` of built-in `type` with `conf` on stdin. */
export async function cni(type: string, verb: Verb, conf: object, call: Call): Promise<SkelRun> {
  const load = builtinLoader(type);
  const env: Record<string, string> = {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
  if (call.args !== undefined) env.CNI_ARGS = call.args;
  if (call.path !== undefined) env.CNI_PATH = call.path.join(':');
  return runWith(load, env, JSON.stringify(conf), type);
}

/** The result of a successful call (fails loudly with the CNI error otherwise). */
export function ok(r: SkelRun): Record<string, unknown> {
  if (r.code !== 0) throw new Error(`expected success, got ${r.stdout}`);
  return r.json ?? {};
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  operstate: string;
  link_index?: number;
  /** The parent's name when it is in the same namespace. */
  link?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

/** `ip -d link show` in a named netns (or the host when `ns` is undefined). */
export function links(ns: string | undefined): IpLink[] {
  return ipJson<IpLink[]>(...(ns ? ['-n', ns] : []), '-d', 'link', 'show');
}

export function linkIn(ns: string | undefined, name: string): IpLink | undefined {
  return links(ns).find((l) => l.ifname === name);
}

export interface IpAddr {
  ifname: string;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    broadcast?: string;
    scope: string;
    dadfailed?: boolean;
    tentative?: boolean;
  }[];
}

/** Addresses (global scope, as CIDR) of `dev` in `ns`. */
export function addrs(ns: string, dev: string): string[] {
  const shown = ipJson<IpAddr[]>('-n', ns, 'addr', 'show', 'dev', dev);
  return (shown[0]?.addr_info ?? [])
    .filter((a) => a.scope === 'global')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  scope?: string;
  metric?: number;
  protocol?: string;
  flags: string[];
  metrics?: Record<string, number>[];
  table?: string;
}

/** Routes of `dev` in `ns` (both families; `table all` so every table is seen). */
export function routes(ns: string, dev: string): IpRoute[] {
  const out: IpRoute[] = [];
  for (const fam of ['-4', '-6']) {
    out.push(...ipJson<IpRoute[]>('-n', ns, fam, 'route', 'show', 'table', 'all', 'dev', dev));
  }
  return out.filter(
    (r) => !(r.dst.startsWith('fe80::') || r.dst.startsWith('ff00::') || r.table === 'local'),
  );
}

export function sysctlIn(ns: string, key: string): string {
  return ip('netns', 'exec', ns, 'cat', `/proc/sys/${key}`).trim();
}

/** The reservation files (IP names) of a host-local network. */
export function reservations(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.') && !f.startsWith('.'))
    .sort();
}

export function reservation(dataDir: string, network: string, ipAddr: string): string {
  return readFileSync(join(dataDir, network, ipAddr), 'utf8');
}

/** The pod-side names of every link except lo. */
export function podLinks(ns: string): string[] {
  return links(ns)
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo');
}
