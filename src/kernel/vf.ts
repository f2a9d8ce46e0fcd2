/**
 * SR-IOV virtual functions seen from their PF: read IFLA_VFINFO_LIST, and set one IFLA_VF_*
 * setting per request so a refusal names the setting the driver refused.
 */

import { q } from '../cni/errors.ts';
import { kernelFailure } from './errors.ts';
import * as link from './link.ts';
import {
  type Attr,
  decodeAttrList,
  decodeAttrs,
  encodeAttrs,
  formatMac,
  readStr,
  u16be,
  u32,
} from './nl/attrs.ts';
import {
  ETH_P_8021AD,
  IFLA,
  IFLA_VF,
  IFLA_VF_INFO,
  IFLA_VF_VLAN_INFO,
  RTM,
  VF_LINK_STATE,
} from './nl/constants.ts';
import { ifinfomsg } from './nl/messages.ts';
import type { Rtnl } from './socket.ts';

export type LinkState = keyof typeof VF_LINK_STATE;
export type VlanProto = '802.1q' | '802.1ad';

export interface VfInfo {
  readonly vf: number;
  readonly mac: string | undefined;
  readonly vlan: number;
  readonly qos: number;
  readonly vlanProto: VlanProto;
  readonly spoofchk: boolean | undefined;
  readonly trust: boolean | undefined;
  readonly linkState: LinkState | undefined;
  readonly minTxRate: number;
  readonly maxTxRate: number;
}

function parseVf(buf: Buffer): VfInfo {
  const a = decodeAttrs(buf);
  const mac = a.get(IFLA_VF.MAC);
  const vlan = a.get(IFLA_VF.VLAN);
  const spoof = a.get(IFLA_VF.SPOOFCHK);
  const trust = a.get(IFLA_VF.TRUST);
  const state = a.get(IFLA_VF.LINK_STATE);
  const rate = a.get(IFLA_VF.RATE);
  const txRate = a.get(IFLA_VF.TX_RATE);
  let proto: VlanProto = '802.1q';
  const list = a.get(IFLA_VF.VLAN_LIST);
  if (list) {
    const first = decodeAttrList(list).find(([t]) => t === IFLA_VF_VLAN_INFO)?.[1];
    if (first && first.length >= 14 && first.readUInt16BE(12) === ETH_P_8021AD) proto = '802.1ad';
  }
  const u32at = (b: Buffer | undefined, off: number) =>
    b && b.length >= off + 4 ? b.readUInt32LE(off) : undefined;
  const boolAt = (b: Buffer | undefined) => {
    const v = u32at(b, 4);
    return v === undefined || v === 0xffffffff ? undefined : v !== 0; // -1: not supported by the driver
  };
  const stateNum = u32at(state, 4);
  return {
    vf: u32at(mac ?? vlan, 0) ?? 0,
    mac: mac ? formatMac(mac.subarray(4, 10)) : undefined,
    vlan: u32at(vlan, 4) ?? 0,
    qos: u32at(vlan, 8) ?? 0,
    vlanProto: proto,
    spoofchk: boolAt(spoof),
    trust: boolAt(trust),
    linkState: (Object.keys(VF_LINK_STATE) as LinkState[]).find((k) => VF_LINK_STATE[k] === stateNum),
    minTxRate: u32at(rate, 4) ?? 0,
    maxTxRate: u32at(rate, 8) ?? u32at(txRate, 4) ?? 0,
  };
}

/** Every VF of the PF named `pf`, in VF index order. */
export async function list(h: Rtnl, pf: string): Promise<VfInfo[]> {
  const l = await link.mustByName(h, pf, 'as SR-IOV PF', { vfs: true });
  const raw = l.attrs.get(IFLA.VFINFO_LIST);
  if (!raw) return [];
  return decodeAttrList(raw)
    .filter(([t]) => t === IFLA_VF_INFO)
    .map(([, b]) => parseVf(b))
    .sort((x, y) => x.vf - y.vf);
}

export async function get(h: Rtnl, pf: string, vf: number): Promise<VfInfo | undefined> {
  return (await list(h, pf)).find((v) => v.vf === vf);
}

export type VfSetting =
  | { readonly kind: 'mac'; readonly mac: string }
  | { readonly kind: 'vlan'; readonly vlan: number; readonly qos: number; readonly proto: VlanProto }
  | { readonly kind: 'spoofchk'; readonly on: boolean }
  | { readonly kind: 'trust'; readonly on: boolean }
  | { readonly kind: 'linkState'; readonly state: LinkState }
  | { readonly kind: 'rate'; readonly min: number; readonly max: number };

function vfAttr(vf: number, s: VfSetting): Attr {
  switch (s.kind) {
    case 'mac': {
      const b = Buffer.alloc(36);
      b.writeUInt32LE(vf, 0);
      Buffer.from(s.mac.split(':').map((x) => Number.parseInt(x, 16))).copy(b, 4);
      return [IFLA_VF.MAC, b];
    }
    case 'vlan': {
      if (s.proto === '802.1q') return [IFLA_VF.VLAN, Buffer.concat([u32(vf), u32(s.vlan), u32(s.qos)])];
      const info = Buffer.concat([u32(vf), u32(s.vlan), u32(s.qos), u16be(ETH_P_8021AD), Buffer.alloc(2)]);
      return [IFLA_VF.VLAN_LIST, [[IFLA_VF_VLAN_INFO, info]]];
    }
    case 'spoofchk':
      return [IFLA_VF.SPOOFCHK, Buffer.concat([u32(vf), u32(s.on ? 1 : 0)])];
    case 'trust':
      return [IFLA_VF.TRUST, Buffer.concat([u32(vf), u32(s.on ? 1 : 0)])];
    case 'linkState':
      return [IFLA_VF.LINK_STATE, Buffer.concat([u32(vf), u32(VF_LINK_STATE[s.state])])];
    case 'rate':
      return [IFLA_VF.RATE, Buffer.concat([u32(vf), u32(s.min), u32(s.max)])];
  }
}

export function describeSetting(s: VfSetting): string {
  switch (s.kind) {
    case 'mac':
      return `MAC ${s.mac}`;
    case 'vlan':
      return `VLAN ${s.vlan} qos ${s.qos} proto ${s.proto}`;
    case 'spoofchk':
      return `spoofchk ${s.on ? 'on' : 'off'}`;
    case 'trust':
      return `trust ${s.on ? 'on' : 'off'}`;
    case 'linkState':
      return `link state ${q(s.state)}`;
    case 'rate':
      return `min_tx_rate ${s.min} max_tx_rate ${s.max} (Mbps)`;
  }
}

/** Applies one setting to VF `vf` of the PF with index `pfIndex` (named `pf` in errors). */
export async function set(h: Rtnl, pfIndex: number, pf: string, vf: number, s: VfSetting): Promise<void> {
  const body = Buffer.concat([
    ifinfomsg({ index: pfIndex }),
    encodeAttrs([[IFLA.VFINFO_LIST, [[IFLA_VF_INFO, [vfAttr(vf, s)]]]]]),
  ]);
  try {
    await h.request(RTM.SETLINK, body);
  } catch (err) {
    throw kernelFailure(`set VF ${vf} ${describeSetting(s)} on PF ${q(pf)}`, err);
  }
}

/** IFLA_PARENT_DEV_NAME (Linux 5.14+): the bus name of the device behind a netdev. */
const IFLA_PARENT_DEV_NAME = 56;

/** The PCI address (bus device name) behind a netdev, e.g. a VF's; undefined for virtual links. */
export function parentDevice(l: link.Link): string | undefined {
  return readStr(l.attrs.get(IFLA_PARENT_DEV_NAME));
}
