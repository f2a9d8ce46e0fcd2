/**
 * IFLA_INFO_DATA per link kind: builders for creation and readers for CHECK.
 */
import { formatIP, parseIP } from '../ip/ip.ts';
import type { Link } from './link.ts';
import { type Attr, readU8, readU16, readU16be, readU32, u8, u16, u16be, u32 } from './nl/attrs.ts';
import {
  IFLA_BR,
  IFLA_IPVLAN,
  IFLA_MACVLAN,
  IFLA_VXLAN,
  IPVLAN_F,
  IPVLAN_MODE,
  MACVLAN_MODE,
} from './nl/constants.ts';

export type MacvlanMode = keyof typeof MACVLAN_MODE;
export type IpvlanMode = keyof typeof IPVLAN_MODE;
export type IpvlanFlag = keyof typeof IPVLAN_F;

function nameOf<T extends Record<string, number>>(table: T, value: number | undefined): keyof T | undefined {
  if (value === undefined) return undefined;
  return (Object.keys(table) as (keyof T)[]).find((k) => table[k] === value);
}

export function macvlanData(mode: MacvlanMode): Attr[] {
  return [[IFLA_MACVLAN.MODE, u32(MACVLAN_MODE[mode])]];
}

export function macvlanMode(link: Link): MacvlanMode | undefined {
  return nameOf(MACVLAN_MODE, readU32(link.info.get(IFLA_MACVLAN.MODE)));
}

export function ipvlanData(mode: IpvlanMode, flag: IpvlanFlag): Attr[] {
  return [
    [IFLA_IPVLAN.MODE, u16(IPVLAN_MODE[mode])],
    [IFLA_IPVLAN.FLAGS, u16(IPVLAN_F[flag])],
  ];
}

export function ipvlanMode(link: Link): { mode: IpvlanMode | undefined; flag: IpvlanFlag | undefined } {
  return {
    mode: nameOf(IPVLAN_MODE, readU16(link.info.get(IFLA_IPVLAN.MODE))),
    flag: nameOf(IPVLAN_F, readU16(link.info.get(IFLA_IPVLAN.FLAGS)) ?? 0),
  };
}

export interface VxlanSpec {
  readonly vni: number;
  readonly port: number;
  /** Underlay device index. */
  readonly underlay?: number;
  readonly local?: string;
  readonly group?: string;
  readonly learning: boolean;
  readonly ttl?: number;
  readonly tos?: number;
  readonly srcPortRange?: readonly [number, number];
  readonly udpCsum?: boolean;
}

export function vxlanData(s: VxlanSpec): (Attr | undefined)[] {
  const local = s.local ? parseIP(s.local) : undefined;
  const group = s.group ? parseIP(s.group) : undefined;
  const range = s.srcPortRange
    ? Buffer.concat([u16be(s.srcPortRange[0]), u16be(s.srcPortRange[1])])
    : undefined;
  return [
    [IFLA_VXLAN.ID, u32(s.vni)],
    [IFLA_VXLAN.PORT, u16be(s.port)],
    s.underlay !== undefined ? [IFLA_VXLAN.LINK, u32(s.underlay)] : undefined,
    local ? [local.family === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, Buffer.from(local.bytes)] : undefined,
    group ? [group.family === 4 ? IFLA_VXLAN.GROUP : IFLA_VXLAN.GROUP6, Buffer.from(group.bytes)] : undefined,
    [IFLA_VXLAN.LEARNING, u8(s.learning ? 1 : 0)],
    s.ttl !== undefined ? [IFLA_VXLAN.TTL, u8(s.ttl)] : undefined,
    s.tos !== undefined ? [IFLA_VXLAN.TOS, u8(s.tos)] : undefined,
    range ? [IFLA_VXLAN.PORT_RANGE, range] : undefined,
    s.udpCsum !== undefined ? [IFLA_VXLAN.UDP_CSUM, u8(s.udpCsum ? 1 : 0)] : undefined,
  ];
}

export interface VxlanInfo {
  readonly vni: number | undefined;
  readonly port: number | undefined;
  readonly underlay: number | undefined;
  readonly local: string | undefined;
  readonly group: string | undefined;
  readonly learning: boolean;
  readonly ttl: number | undefined;
  readonly tos: number | undefined;
  readonly srcPortRange: [number, number] | undefined;
  readonly udpCsum: boolean | undefined;
}

function ipAttr(b: Buffer | undefined): string | undefined {
  if (!b || (b.length !== 4 && b.length !== 16)) return undefined;
  const s = formatIP({ family: b.length === 4 ? 4 : 6, bytes: new Uint8Array(b) });
  return s === '0.0.0.0' || s === '::' ? undefined : s;
}

export function vxlanInfo(link: Link): VxlanInfo {
  const i = link.info;
  const range = i.get(IFLA_VXLAN.PORT_RANGE);
  const csum = readU8(i.get(IFLA_VXLAN.UDP_CSUM));
  return {
    vni: readU32(i.get(IFLA_VXLAN.ID)),
    port: readU16be(i.get(IFLA_VXLAN.PORT)),
    underlay: readU32(i.get(IFLA_VXLAN.LINK)),
    local: ipAttr(i.get(IFLA_VXLAN.LOCAL)) ?? ipAttr(i.get(IFLA_VXLAN.LOCAL6)),
    group: ipAttr(i.get(IFLA_VXLAN.GROUP)) ?? ipAttr(i.get(IFLA_VXLAN.GROUP6)),
    learning: readU8(i.get(IFLA_VXLAN.LEARNING)) === 1,
    ttl: readU8(i.get(IFLA_VXLAN.TTL)),
    tos: readU8(i.get(IFLA_VXLAN.TOS)),
    srcPortRange: range && range.length >= 4 ? [range.readUInt16BE(0), range.readUInt16BE(2)] : undefined,
    udpCsum: csum === undefined ? undefined : csum === 1,
  };
}

export function bridgeData(opts: { vlanFiltering?: boolean; defaultPvid?: number }): (Attr | undefined)[] {
  return [
    opts.vlanFiltering !== undefined ? [IFLA_BR.VLAN_FILTERING, u8(opts.vlanFiltering ? 1 : 0)] : undefined,
    opts.defaultPvid !== undefined ? [IFLA_BR.VLAN_DEFAULT_PVID, u16(opts.defaultPvid)] : undefined,
  ];
}

export function bridgeVlanFiltering(link: Link): boolean {
  return readU8(link.info.get(IFLA_BR.VLAN_FILTERING)) === 1;
}
