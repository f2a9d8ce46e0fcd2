/** Routes: list, add, delete; and the host's default-route interface. */
import { formatIP, parseCIDR, parseIP } from '../ip/ip.ts';
import { isErrno, kernelFailure } from './errors.ts';
import { type Attr, decodeAttrs, encodeAttrs, readU32, u32 } from './nl/attrs.ts';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F,
  RT_SCOPE,
  RT_TABLE_MAIN,
  RTA,
  RTAX,
  RTM,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RTPROT,
} from './nl/constants.ts';
import { parseRtmsg, RTMSG_LEN, rtmsg } from './nl/messages.ts';

const RT_SCOPE_NOWHERE = 255;

import { q } from '../cni/errors.ts';
import type { Rtnl } from './socket.ts';

export interface Route {
  /** CIDR; `0.0.0.0/0` or `::/0` for a default route. */
  readonly dst: string;
  readonly gw?: string | undefined;
  /** Outgoing interface index. */
  readonly oif?: number | undefined;
  readonly scope?: number | undefined;
  readonly table?: number | undefined;
  readonly priority?: number | undefined;
  readonly mtu?: number | undefined;
  readonly advmss?: number | undefined;
  readonly onlink?: boolean | undefined;
  readonly src?: string | undefined;
  readonly protocol?: number | undefined;
  readonly type?: number | undefined;
}

export async function list(
  h: Rtnl,
  filter: { family?: 4 | 6; table?: number; oif?: number } = {},
): Promise<Route[]> {
  const family = filter.family === 4 ? AF_INET : filter.family === 6 ? AF_INET6 : AF_UNSPEC;
  const msgs = await h.dump(RTM.GETROUTE, rtmsg({ family }));
  const out: Route[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWROUTE) continue;
    const hdr = parseRtmsg(m.data);
    const fam: 4 | 6 = hdr.family === AF_INET ? 4 : 6;
    if (hdr.family !== AF_INET && hdr.family !== AF_INET6) continue;
    const attrs = decodeAttrs(m.data.subarray(RTMSG_LEN));
    const table = readU32(attrs.get(RTA.TABLE)) ?? hdr.table;
    if (filter.table !== undefined && table !== filter.table) continue;
    const oif = readU32(attrs.get(RTA.OIF));
    const dstRaw = attrs.get(RTA.DST);
    const dstIP = dstRaw
      ? formatIP({ family: fam, bytes: new Uint8Array(dstRaw) })
      : fam === 4
        ? '0.0.0.0'
        : '::';
    const gwRaw = attrs.get(RTA.GATEWAY);
    const srcRaw = attrs.get(RTA.PREFSRC);
    const metrics = attrs.get(RTA.METRICS);
    const mx = metrics ? decodeAttrs(metrics) : undefined;
    const route: Route = {
      dst: `${dstIP}/${hdr.dstLen}`,
      gw: gwRaw ? formatIP({ family: fam, bytes: new Uint8Array(gwRaw) }) : undefined,
      oif,
      scope: hdr.scope,
      table,
      priority: readU32(attrs.get(RTA.PRIORITY)),
      mtu: readU32(mx?.get(RTAX.MTU)),
      advmss: readU32(mx?.get(RTAX.ADVMSS)),
      onlink: (hdr.flags & RTNH_F_ONLINK) !== 0,
      src: srcRaw ? formatIP({ family: fam, bytes: new Uint8Array(srcRaw) }) : undefined,
      protocol: hdr.protocol,
      type: hdr.type,
    };
    const multipath = attrs.get(RTA.MULTIPATH);
    if (!multipath) {
      if (filter.oif === undefined || oif === filter.oif) out.push(route);
      continue;
    }
    for (const hop of nexthops(multipath, fam)) {
      if (filter.oif === undefined || hop.oif === filter.oif) out.push({ ...route, ...hop });
    }
  }
  return out;
}

/**
 * The nexthops of RTA_MULTIPATH (struct rtnexthop: len u16, flags u8, hops u8, ifindex s32,
 * then attributes): the kernel merges IPv6 routes of the same destination and metric on
 * different interfaces into one such route, so each nexthop is listed as a route of its own.
 */
function nexthops(buf: Buffer, fam: 4 | 6): { oif: number; gw: string | undefined; onlink: boolean }[] {
  const out: { oif: number; gw: string | undefined; onlink: boolean }[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 8 || off + len > buf.length) break;
    const gwRaw = decodeAttrs(buf.subarray(off + 8, off + len)).get(RTA.GATEWAY);
    out.push({
      oif: buf.readInt32LE(off + 4),
      gw: gwRaw ? formatIP({ family: fam, bytes: new Uint8Array(gwRaw) }) : undefined,
      onlink: (buf.readUInt8(off + 2) & RTNH_F_ONLINK) !== 0,
    });
    off += (len + 3) & ~3;
  }
  return out;
}

function body(r: Route, forDelete: boolean): Buffer {
  const n = parseCIDR(r.dst);
  if (!n) throw new Error(`route destination ${q(r.dst)} is not a CIDR`);
  const fam = n.ip.family;
  const gw = r.gw ? parseIP(r.gw) : undefined;
  const table = r.table ?? RT_TABLE_MAIN;
  const scope = r.scope ?? (gw ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
  const metrics: Attr[] = [];
  if (r.mtu) metrics.push([RTAX.MTU, u32(r.mtu)]);
  if (r.advmss) metrics.push([RTAX.ADVMSS, u32(r.advmss)]);
  const hdr = rtmsg({
    family: fam === 4 ? AF_INET : AF_INET6,
    dstLen: n.prefix,
    table: table < 256 ? table : 252,
    protocol: forDelete ? 0 : (r.protocol ?? RTPROT.BOOT),
    scope: forDelete ? RT_SCOPE_NOWHERE : scope, // NOWHERE: delete whatever the scope
    type: forDelete ? 0 : (r.type ?? RTN_UNICAST),
    flags: r.onlink ? RTNH_F_ONLINK : 0,
  });
  const src = r.src ? parseIP(r.src) : undefined;
  return Buffer.concat([
    hdr,
    encodeAttrs([
      n.prefix > 0 ? [RTA.DST, Buffer.from(n.ip.bytes)] : undefined,
      gw ? [RTA.GATEWAY, Buffer.from(gw.bytes)] : undefined,
      r.oif !== undefined ? [RTA.OIF, u32(r.oif)] : undefined,
      r.priority !== undefined ? [RTA.PRIORITY, u32(r.priority)] : undefined,
      src ? [RTA.PREFSRC, Buffer.from(src.bytes)] : undefined,
      [RTA.TABLE, u32(table)],
      metrics.length > 0 ? [RTA.METRICS, metrics] : undefined,
    ]),
  ]);
}

export function describeRoute(r: Route): string {
  return `${r.dst}${r.gw ? ` via ${r.gw}` : ''}`;
}

/**
 * Adds a route. Without `replace`, as the reference plugins do (NLM_F_CREATE alone, the
 * vishvananda RouteAddEcmp): the same destination via another interface is added next to the
 * existing one (IPv6 merges them into one multipath route), only an identical route is EEXIST.
 */
export async function add(h: Rtnl, r: Route, link: string, opts: { replace?: boolean } = {}): Promise<void> {
  try {
    await h.request(RTM.NEWROUTE, body(r, false), NLM_F.CREATE | (opts.replace ? NLM_F.REPLACE : 0));
  } catch (err) {
    throw kernelFailure(`add route ${describeRoute(r)} on ${link}`, err);
  }
}

/** Deletes a route; a missing one is not an error. */
export async function remove(h: Rtnl, r: Route, link: string): Promise<void> {
  try {
    await h.request(RTM.DELROUTE, body(r, true));
  } catch (err) {
    if (isErrno(err, 'ESRCH', 'ENOENT', 'ENODEV')) return;
    throw kernelFailure(`delete route ${describeRoute(r)} on ${link}`, err);
  }
}

/** The interface index of the main table's IPv4 (else IPv6) default route, as the reference picks a master. */
export async function defaultRouteOif(h: Rtnl): Promise<number | undefined> {
  for (const family of [4, 6] as const) {
    const routes = await list(h, { family, table: RT_TABLE_MAIN });
    const def = routes.find((r) => r.dst.endsWith('/0') && r.oif !== undefined);
    if (def?.oif !== undefined) return def.oif;
  }
  return undefined;
}

/**
 * The route the kernel would take to `dst` now (RTM_GETROUTE for one address, as
 * `ip route get`): its outgoing interface and preferred source; undefined when unreachable.
 */
export async function lookup(
  h: Rtnl,
  dst: string,
): Promise<{ oif: number; src: string | undefined } | undefined> {
  const ip = parseIP(dst);
  if (!ip) throw new Error(`route lookup: ${q(dst)} is not an IP address`);
  const hdr = rtmsg({ family: ip.family === 4 ? AF_INET : AF_INET6, dstLen: ip.family === 4 ? 32 : 128 });
  let msgs: Awaited<ReturnType<Rtnl['request']>>;
  try {
    msgs = await h.request(
      RTM.GETROUTE,
      Buffer.concat([hdr, encodeAttrs([[RTA.DST, Buffer.from(ip.bytes)]])]),
    );
  } catch (err) {
    if (isErrno(err, 'ENETUNREACH', 'EHOSTUNREACH', 'ESRCH')) return undefined;
    throw kernelFailure(`look up the route to ${dst}`, err);
  }
  const m = msgs.find((x) => x.type === RTM.NEWROUTE);
  if (!m) return undefined;
  const attrs = decodeAttrs(m.data.subarray(RTMSG_LEN));
  const oif = readU32(attrs.get(RTA.OIF));
  if (oif === undefined) return undefined;
  const src = attrs.get(RTA.PREFSRC);
  return { oif, src: src ? formatIP({ family: ip.family, bytes: new Uint8Array(src) }) : undefined };
}
