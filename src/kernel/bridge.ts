/** Bridge ports: VLAN membership (with VLAN filtering) and port flags such as hairpin. */
import { kernelFailure } from './errors.ts';
import * as link from './link.ts';
import { type Attr, decodeAttrList, decodeAttrs, encodeAttrs, readU16, u8, u16, u32 } from './nl/attrs.ts';
import {
  AF_BRIDGE,
  BRIDGE_FLAGS_MASTER,
  BRIDGE_FLAGS_SELF,
  BRIDGE_VLAN_INFO,
  IFLA,
  IFLA_BRIDGE,
  IFLA_BRPORT,
  RTEXT_FILTER_BRVLAN,
  RTM,
} from './nl/constants.ts';
import { IFINFOMSG_LEN, ifinfomsg, parseIfinfomsg } from './nl/messages.ts';
import type { Rtnl } from './socket.ts';

export interface VlanEntry {
  readonly vid: number;
  readonly pvid: boolean;
  readonly untagged: boolean;
}

/** One entry for `addVlans`: a VLAN, or the range vid..vidEnd (a range cannot be the PVID). */
export interface VlanSpec {
  readonly vid: number;
  readonly vidEnd?: number;
  readonly pvid?: boolean;
  readonly untagged?: boolean;
}

/**
 * Adds several VLANs (and ranges) to a bridge port in one request: one IFLA_BRIDGE_VLAN_INFO
 * per VLAN, or a RANGE_BEGIN/RANGE_END pair per range, as `bridge vlan add vid 10-20` does.
 */
export async function addVlans(
  h: Rtnl,
  index: number,
  vlans: readonly VlanSpec[],
  port: string,
): Promise<void> {
  if (vlans.length === 0) return;
  const infos: Attr[] = [];
  for (const v of vlans) {
    const flags = (v.pvid ? BRIDGE_VLAN_INFO.PVID : 0) | (v.untagged ? BRIDGE_VLAN_INFO.UNTAGGED : 0);
    if (v.vidEnd !== undefined && v.vidEnd > v.vid) {
      infos.push([
        IFLA_BRIDGE.VLAN_INFO,
        Buffer.concat([u16(flags | BRIDGE_VLAN_INFO.RANGE_BEGIN), u16(v.vid)]),
      ]);
      infos.push([
        IFLA_BRIDGE.VLAN_INFO,
        Buffer.concat([u16(flags | BRIDGE_VLAN_INFO.RANGE_END), u16(v.vidEnd)]),
      ]);
    } else {
      infos.push([IFLA_BRIDGE.VLAN_INFO, Buffer.concat([u16(flags), u16(v.vid)])]);
    }
  }
  const body = Buffer.concat([
    ifinfomsg({ family: AF_BRIDGE, index }),
    encodeAttrs([[IFLA.AF_SPEC, [[IFLA_BRIDGE.FLAGS, u16(BRIDGE_FLAGS_MASTER)], ...infos]]]),
  ]);
  const what = vlans.map((v) =>
    v.vidEnd !== undefined && v.vidEnd > v.vid ? `${v.vid}-${v.vidEnd}` : `${v.vid}`,
  );
  try {
    await h.request(RTM.SETLINK, body);
  } catch (err) {
    throw kernelFailure(`add VLAN ${what.join(',')} to bridge port ${port}`, err);
  }
}

export async function removeVlan(
  h: Rtnl,
  index: number,
  vid: number,
  port: string,
  self = false,
): Promise<void> {
  const body = Buffer.concat([
    ifinfomsg({ family: AF_BRIDGE, index }),
    encodeAttrs([
      [
        IFLA.AF_SPEC,
        [
          [IFLA_BRIDGE.FLAGS, u16(self ? BRIDGE_FLAGS_SELF : BRIDGE_FLAGS_MASTER)],
          [IFLA_BRIDGE.VLAN_INFO, Buffer.concat([u16(0), u16(vid)])],
        ],
      ],
    ]),
  ]);
  try {
    await h.request(RTM.DELLINK, body);
  } catch (err) {
    throw kernelFailure(`remove VLAN ${vid} from bridge port ${port}`, err);
  }
}

/** The VLANs of every bridge port (and bridge), by link index. */
export async function listVlans(h: Rtnl): Promise<Map<number, VlanEntry[]>> {
  const body = Buffer.concat([
    ifinfomsg({ family: AF_BRIDGE }),
    encodeAttrs([[IFLA.EXT_MASK, u32(RTEXT_FILTER_BRVLAN)]]),
  ]);
  const msgs = await h.dump(RTM.GETLINK, body);
  const out = new Map<number, VlanEntry[]>();
  for (const m of msgs) {
    if (m.type !== RTM.NEWLINK) continue;
    const hdr = parseIfinfomsg(m.data);
    const spec = decodeAttrs(m.data.subarray(IFINFOMSG_LEN)).get(IFLA.AF_SPEC);
    if (!spec) continue;
    const entries: VlanEntry[] = [];
    for (const [t, v] of decodeAttrList(spec)) {
      if (t !== IFLA_BRIDGE.VLAN_INFO || v.length < 4) continue;
      const flags = readU16(v) ?? 0;
      entries.push({
        vid: v.readUInt16LE(2),
        pvid: (flags & BRIDGE_VLAN_INFO.PVID) !== 0,
        untagged: (flags & BRIDGE_VLAN_INFO.UNTAGGED) !== 0,
      });
    }
    out.set(hdr.index, entries);
  }
  return out;
}

/** Bridge port settings (IFLA_BRPORT_*), applied through the port's slave data. */
export async function setPort(
  h: Rtnl,
  index: number,
  opts: { hairpin?: boolean; learning?: boolean; isolated?: boolean },
  port: string,
): Promise<void> {
  await link.set(
    h,
    index,
    {
      slave: {
        kind: 'bridge',
        data: [
          opts.hairpin !== undefined ? [IFLA_BRPORT.MODE, u8(opts.hairpin ? 1 : 0)] : undefined,
          opts.learning !== undefined ? [IFLA_BRPORT.LEARNING, u8(opts.learning ? 1 : 0)] : undefined,
          opts.isolated !== undefined ? [IFLA_BRPORT.ISOLATED, u8(opts.isolated ? 1 : 0)] : undefined,
        ],
      },
    },
    `bridge port ${port}`,
  );
}

export function portHairpin(l: link.Link): boolean {
  return l.slaveInfo.get(IFLA_BRPORT.MODE)?.readUInt8(0) === 1;
}

/** IFLA_BRPORT_ISOLATED: an isolated port talks only to non-isolated ports. */
export function portIsolated(l: link.Link): boolean {
  return l.slaveInfo.get(IFLA_BRPORT.ISOLATED)?.readUInt8(0) === 1;
}
