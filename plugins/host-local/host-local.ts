/**
 * host-local IPAM: one address per range set from a pool kept on disk, in the reference's
 * format (store.ts) and allocation order (ranges.ts). Runs in-process for the built-ins and
 * as the `host-local` executable.
 */

import { canonicalRoute } from '../../src/cni/canonical.ts';
import { CniError, Code, invalidConfig, q } from '../../src/cni/errors.ts';
import type { GcContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { DNS, IPConfig, Result } from '../../src/cni/result.ts';
import { parseWith } from '../../src/cni/validate.ts';
import { formatIP, type IP, parseCIDR, parseIP } from '../../src/ip/ip.ts';
import { type HostLocalConf, HostLocalConfSchema } from './config.ts';
import {
  allocation,
  candidates,
  canonicalizeRange,
  canonicalizeSet,
  describeSet,
  type RangeSet,
  rangeFor,
  setsOverlap,
} from './ranges.ts';
import { readResolvConf } from './resolv.ts';
import { Store } from './store.ts';

export interface HostLocal {
  readonly conf: HostLocalConf;
  readonly sets: readonly RangeSet[];
  readonly requested: readonly IP[];
}

/** The object without its undefined members (for exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** Field path prefix for errors: `ipam.` when host-local reads a plugin's config. */
const P = 'ipam';

function requestedIP(s: string, field: string): IP {
  const ip = parseIP(s) ?? parseCIDR(s)?.ip;
  if (!ip) throw invalidConfig(field, `not an IP address: ${q(s)}`);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address, as the reference reads it.
  const b = ip.bytes;
  if (ip.family === 6 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { family: 4, bytes: b.slice(12) };
  }
  return ip;
}

/** Reads and checks the config: ranges (runtime ipRanges first, legacy range first), requested IPs. */
export function loadHostLocal(raw: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): HostLocal {
  const conf = parseWith(HostLocalConfSchema, raw);
  const ipam = conf.ipam;
  const sets: RangeSet[] = [];
  const paths: string[] = [];
  (conf.runtimeConfig?.ipRanges ?? []).forEach((set, i) => {
    paths.push(`runtimeConfig.ipRanges[${i}]`);
    sets.push(canonicalizeSet(set, `runtimeConfig.ipRanges[${i}]`));
  });
  if (ipam.subnet) {
    const { subnet, rangeStart, rangeEnd, gateway } = ipam;
    paths.push(P);
    sets.push([canonicalizeRange({ subnet, ...defined({ rangeStart, rangeEnd, gateway }) }, P)]);
  }
  (ipam.ranges ?? []).forEach((set, i) => {
    paths.push(`${P}.ranges[${i}]`);
    sets.push(canonicalizeSet(set, `${P}.ranges[${i}]`));
  });
  if (sets.length === 0) throw invalidConfig(`${P}.ranges`, 'no IP ranges specified');
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      if (setsOverlap(sets[i] ?? [], sets[j] ?? [])) {
        throw invalidConfig(paths[j] ?? P, `range set ${j} overlaps with range set ${i}`);
      }
    }
  }
  const requested: IP[] = [];
  const ipArg = cniArgs.get('IP');
  if (ipArg) for (const s of ipArg.split(',')) requested.push(requestedIP(s.trim(), 'CNI_ARGS IP'));
  (conf.args?.cni?.ips ?? []).forEach((s, i) => {
    requested.push(requestedIP(s, `args.cni.ips[${i}]`));
  });
  (conf.runtimeConfig?.ips ?? []).forEach((s, i) => {
    requested.push(requestedIP(s, `runtimeConfig.ips[${i}]`));
  });
  return { conf, sets, requested };
}

async function withStore<T>(hl: HostLocal, fn: (s: Store) => T): Promise<T> {
  const store = await Store.open(hl.conf.name, hl.conf.ipam.dataDir);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** What allocation needs of a store: the real one (store.ts), or explain's read-only pretend one. */
export type Allocator = Pick<Store, 'reserve' | 'release' | 'lastReserved' | 'byAttachment'>;

/**
 * One address per range set (a requested one where it fits) for the attachment, reserved in
 * `store`; on failure what this call reserved is released again. ADD runs it on the locked
 * store, `manifold explain` on a pretend store that reads the real one and writes nothing.
 */
export function allocateAll(
  hl: HostLocal,
  store: Allocator,
  containerId: string,
  ifname: string,
): IPConfig[] {
  const pending = new Map(hl.requested.map((ip) => [formatIP(ip), ip]));
  const got: IPConfig[] = [];
  // Undo only what this call reserved: the attachment may already hold addresses (a
  // repeated ADD fails on them), and those stay with the live attachment.
  const rollback = () => {
    for (const ip of got) store.release({ ip: ip.address.split('/')[0] ?? '', containerId, ifname });
  };
  try {
    hl.sets.forEach((set, idx) => {
      got.push(allocateFromSet(store, set, idx, containerId, ifname, pending));
    });
  } catch (err) {
    rollback();
    throw err;
  }
  if (pending.size > 0) {
    rollback();
    throw new CniError(
      Code.Internal,
      `failed to allocate all requested IPs: ${[...pending.keys()].join(' ')}`,
    );
  }
  return got;
}

/** The result around the allocated addresses: the config's routes, resolvConf's DNS. */
export function hostLocalResult(
  hl: HostLocal,
  ips: IPConfig[],
  cniVersion: string,
  dns: DNS | undefined,
): Result {
  const result: Result = { cniVersion, ips };
  if (hl.conf.ipam.routes?.length) result.routes = hl.conf.ipam.routes.map(canonicalRoute);
  if (dns) result.dns = dns;
  return result;
}

/** Reserves one address per range set (a requested one where it fits) for the attachment. */
export async function hostLocalAdd(
  hl: HostLocal,
  containerId: string,
  ifname: string,
  cniVersion: string,
): Promise<Result> {
  // Read before allocating (as the reference): a bad resolvConf must not leak an address.
  const dns = hl.conf.ipam.resolvConf ? readResolvConf(hl.conf.ipam.resolvConf) : undefined;
  const ips = await withStore(hl, (store) => allocateAll(hl, store, containerId, ifname));
  return hostLocalResult(hl, ips, cniVersion, dns);
}

function allocateFromSet(
  store: Allocator,
  set: RangeSet,
  idx: number,
  containerId: string,
  ifname: string,
  pending: Map<string, IP>,
): IPConfig {
  const fail = (why: string) => new CniError(Code.Internal, `failed to allocate for range ${idx}: ${why}`);
  const wanted = [...pending.values()].find((ip) => rangeFor(set, ip));
  if (wanted) {
    pending.delete(formatIP(wanted));
    const r = rangeFor(set, wanted);
    if (!r) throw fail(`${formatIP(wanted)} not in range set ${describeSet(set)}`);
    if (formatIP(wanted) === formatIP(r.gateway))
      throw fail(`requested ip ${formatIP(wanted)} is subnet's gateway`);
    if (!store.reserve(containerId, ifname, wanted, idx)) {
      throw fail(
        `requested IP address ${formatIP(wanted)} is not available in range set ${describeSet(set)}`,
      );
    }
    return allocation(wanted, r);
  }
  for (const r of store.byAttachment(containerId, ifname)) {
    const ip = parseIP(r.ip);
    if (ip && rangeFor(set, ip)) {
      throw fail(`${r.ip} has been allocated to ${containerId}, duplicate allocation is not allowed`);
    }
  }
  for (const c of candidates(set, store.lastReserved(idx))) {
    if (store.reserve(containerId, ifname, c.ip, idx)) return allocation(c.ip, c.range);
  }
  throw fail(`no IP addresses available in range set: ${describeSet(set)}`);
}

/**
 * Releases the attachment's reservations; nothing reserved is not an error. Also removes the
 * temp a writer killed mid-reserve left (the runtime's DEL after an ADD the daemon died in):
 * the lock is held, so no temp is being written. GC would too, but containerd never calls it.
 */
export async function hostLocalDel(hl: HostLocal, containerId: string, ifname: string): Promise<void> {
  await withStore(hl, (store) => {
    for (const r of store.byAttachment(containerId, ifname)) store.release(r);
    store.removeStaleTemps(0);
  });
}

export async function hostLocalCheck(hl: HostLocal, containerId: string, ifname: string): Promise<void> {
  const found = await withStore(hl, (store) => store.byAttachment(containerId, ifname).length > 0);
  if (!found)
    throw new CniError(Code.Internal, `host-local: failed to find address added by container ${containerId}`);
}

/** Releases every reservation whose attachment is not in `valid`. */
export async function hostLocalGc(
  hl: HostLocal,
  valid: readonly { containerID: string; ifname: string }[],
): Promise<void> {
  const keep = new Set(valid.map((a) => `${a.containerID.trim()}\n${a.ifname}`));
  const ids = new Set(valid.map((a) => a.containerID.trim()));
  await withStore(hl, (store) => {
    for (const r of store.list()) {
      const live = r.ifname ? keep.has(`${r.containerId}\n${r.ifname}`) : ids.has(r.containerId);
      if (!live) store.release(r);
    }
    store.removeStaleTemps();
  });
}

/** Error 50 when some range set has no free address left. */
export async function hostLocalStatus(hl: HostLocal): Promise<void> {
  await withStore(hl, (store) => {
    hl.sets.forEach((set, idx) => {
      let seen = 0;
      for (const c of candidates(set, store.lastReserved(idx))) {
        if (!store.isReserved(c.ip)) return;
        if (++seen >= 1 << 16) return; // large pools: assume space rather than scan forever
      }
      throw new CniError(
        Code.CannotServeAdd,
        `range set ${idx} (${describeSet(set)}) has no free IP addresses`,
      );
    });
  });
}

type Ctx = PluginContext<HostLocal>;

/** host-local as a plugin of its own (`dist/bin/host-local`). */
export const plugin: Plugin<HostLocal> = {
  type: 'host-local',
  parseConfig: loadHostLocal,
  add: async (ctx: Ctx) => hostLocalAdd(ctx.conf, ctx.containerId, ctx.ifname, ctx.cniVersion),
  del: async (ctx: Ctx) => hostLocalDel(ctx.conf, ctx.containerId, ctx.ifname),
  check: async (ctx: Ctx) => hostLocalCheck(ctx.conf, ctx.containerId, ctx.ifname),
  status: async (ctx: Ctx) => hostLocalStatus(ctx.conf),
  gc: async (ctx: GcContext<HostLocal>) => hostLocalGc(ctx.conf, ctx.validAttachments),
};
