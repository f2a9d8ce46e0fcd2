/** Neighbours (ARP/NDP entries) and bridge/VxLAN forwarding-database (FDB) entries. */
import { formatIP, parseIP } from '../ip/ip.ts';
import { isErrno, kernelFailure } from './errors.ts';
import { decodeAttrs, encodeAttrs, formatMac, parseMac, readU16be, readU32, u16be, u32 } from './nl/attrs.ts';
import { AF_BRIDGE, AF_INET, AF_INET6, AF_UNSPEC, NDA, NLM_F, NTF, NUD, RTM } from './nl/constants.ts';
import { NDMSG_LEN, ndmsg, parseNdmsg } from './nl/messages.ts';
import type { Rtnl } from './socket.ts';

export interface Neighbour {
  readonly index: number;
  /** 4, 6, or 'bridge' for FDB entries. */
  readonly family: 4 | 6 | 'bridge';
  /** The IP (neighbours) or, for a VxLAN FDB entry, the remote VTEP (NDA_DST). */
  readonly ip: string | undefined;
  readonly mac: string | undefined;
  readonly state: number;
  readonly flags: number;
  readonly vni: number | undefined;
  readonly port: number | undefined;
  readonly master: number | undefined;
}

function fam(f: Neighbour['family']): number {
  return f === 4 ? AF_INET : f === 6 ? AF_INET6 : AF_BRIDGE;
}

export async function list(
  h: Rtnl,
  filter: { family?: Neighbour['family']; index?: number } = {},
): Promise<Neighbour[]> {
  const msgs = await h.dump(
    RTM.GETNEIGH,
    ndmsg({ family: filter.family ? fam(filter.family) : AF_UNSPEC, index: 0 }),
  );
  const out: Neighbour[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWNEIGH) continue;
    const hdr = parseNdmsg(m.data);
    if (filter.index !== undefined && hdr.index !== filter.index) continue;
    const family =
      hdr.family === AF_INET
        ? 4
        : hdr.family === AF_INET6
          ? 6
          : hdr.family === AF_BRIDGE
            ? 'bridge'
            : undefined;
    if (!family || (filter.family && family !== filter.family)) continue;
    const attrs = decodeAttrs(m.data.subarray(NDMSG_LEN));
    const dst = attrs.get(NDA.DST);
    out.push({
      index: hdr.index,
      family,
      ip: dst ? formatIP({ family: dst.length === 4 ? 4 : 6, bytes: new Uint8Array(dst) }) : undefined,
      mac: formatMac(attrs.get(NDA.LLADDR)),
      state: hdr.state,
      flags: hdr.flags,
      vni: readU32(attrs.get(NDA.VNI)),
      port: readU16be(attrs.get(NDA.PORT)),
      master: readU32(attrs.get(NDA.MASTER)),
    });
  }
  return out;
}

export interface NeighSpec {
  readonly index: number;
  readonly family: Neighbour['family'];
  readonly mac: string;
  /** The neighbour's IP; for a VxLAN FDB entry, the remote VTEP. */
  readonly ip?: string;
  readonly state?: number;
  readonly flags?: number;
  readonly vni?: number;
  readonly port?: number;
}

function neighBody(n: NeighSpec): Buffer {
  const ip = n.ip ? parseIP(n.ip) : undefined;
  return Buffer.concat([
    ndmsg({ family: fam(n.family), index: n.index, state: n.state ?? NUD.PERMANENT, flags: n.flags ?? 0 }),
    encodeAttrs([
      [NDA.LLADDR, parseMac(n.mac)],
      ip ? [NDA.DST, Buffer.from(ip.bytes)] : undefined,
      n.vni !== undefined ? [NDA.VNI, u32(n.vni)] : undefined,
      n.port !== undefined ? [NDA.PORT, u16be(n.port)] : undefined,
    ]),
  ]);
}

function describe(n: NeighSpec): string {
  return n.family === 'bridge'
    ? `FDB entry ${n.mac}${n.ip ? ` dst ${n.ip}` : ''}`
    : `neighbour ${n.ip ?? ''} lladdr ${n.mac}`;
}

/**
 * Adds or replaces an entry. `append` adds one more entry for the same MAC (VxLAN head-end
 * replication: one all-zeros entry per remote).
 */
export async function add(
  h: Rtnl,
  n: NeighSpec,
  link: string,
  opts: { append?: boolean } = {},
): Promise<void> {
  const flags = NLM_F.CREATE | (opts.append ? NLM_F.APPEND : NLM_F.REPLACE);
  try {
    await h.request(RTM.NEWNEIGH, neighBody(n), flags);
  } catch (err) {
    if (opts.append && isErrno(err, 'EEXIST')) return;
    throw kernelFailure(`add ${describe(n)} on ${link}`, err);
  }
}

export async function remove(h: Rtnl, n: NeighSpec, link: string): Promise<void> {
  try {
    await h.request(RTM.DELNEIGH, neighBody(n));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENODEV', 'ESRCH')) return;
    throw kernelFailure(`delete ${describe(n)} on ${link}`, err);
  }
}

export const FDB_SELF = NTF.SELF;
export const PERMANENT = NUD.PERMANENT;
