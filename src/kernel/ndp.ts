/**
 * IPv6 neighbour discovery packets (RFC 4861/4862), as a packet socket sends and receives
 * them (from the IPv6 header on): neighbour solicitations (a gateway check, or a DAD probe
 * from ::), unsolicited neighbour advertisements (an announcement), and the reading of a
 * received solicitation or advertisement. The ICMPv6 checksum is computed here.
 */

import { q } from '../cni/errors.ts';
import { formatIP, type IP, parseIP } from '../ip/ip.ts';
import { formatMac, parseMac } from './nl/attrs.ts';

export const ICMPV6 = { NS: 135, NA: 136 } as const;
export const NA_FLAG = { ROUTER: 0x80, SOLICITED: 0x40, OVERRIDE: 0x20 } as const;
const NEXT_HEADER_ICMPV6 = 58;
const OPT = { SOURCE_LLADDR: 1, TARGET_LLADDR: 2 } as const;

export const ALL_NODES = 'ff02::1';

function v6(ip: string): IP {
  const p = parseIP(ip);
  if (p?.family !== 6) throw new Error(`${q(ip)} is not an IPv6 address`);
  return p;
}

/** ff02::1:ffXX:XXXX, the solicited-node multicast group of `ip`. */
export function solicitedNode(ip: string): string {
  const b = v6(ip).bytes;
  const g = new Uint8Array(16);
  g.set([0xff, 0x02], 0);
  g.set([0x01, 0xff, b[13] ?? 0, b[14] ?? 0, b[15] ?? 0], 11);
  return formatIP({ family: 6, bytes: g });
}

/** The Ethernet address of an IPv6 multicast group: 33:33 and its last four bytes. */
export function multicastMac(group: string): string {
  const b = v6(group).bytes;
  return formatMac(Buffer.from([0x33, 0x33, ...b.subarray(12)])) ?? '';
}

function checksum(src: Uint8Array, dst: Uint8Array, icmp: Buffer): number {
  const pseudo = Buffer.alloc(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo.writeUInt8(NEXT_HEADER_ICMPV6, 39);
  let sum = 0;
  for (const part of [pseudo, icmp]) {
    for (let i = 0; i < part.length; i += 2) sum += (part[i] ?? 0) * 256 + (part[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function packet(src: string, dst: string, icmp: Buffer): Buffer {
  const s = v6(src).bytes;
  const d = v6(dst).bytes;
  icmp.writeUInt16BE(checksum(s, d, icmp), 2);
  const hdr = Buffer.alloc(40);
  hdr.writeUInt32BE(0x60000000, 0);
  hdr.writeUInt16BE(icmp.length, 4);
  hdr.writeUInt8(NEXT_HEADER_ICMPV6, 6);
  hdr.writeUInt8(255, 7); // NDP requires hop limit 255
  hdr.set(s, 8);
  hdr.set(d, 24);
  return Buffer.concat([hdr, icmp]);
}

function message(type: number, flags: number, target: string, opt?: { type: number; mac: string }): Buffer {
  const b = Buffer.alloc(24 + (opt ? 8 : 0));
  b.writeUInt8(type, 0);
  b.writeUInt8(flags, 4);
  b.set(v6(target).bytes, 8);
  if (opt) {
    b.writeUInt8(opt.type, 24);
    b.writeUInt8(1, 25); // length in units of 8 bytes
    parseMac(opt.mac).copy(b, 26);
  }
  return b;
}

/**
 * A neighbour solicitation for `target`, sent to its solicited-node group. From `src` with
 * our link-layer address; from `::` (a DAD probe) without it, as RFC 4862 requires.
 */
export function solicitation(mac: string, src: string, target: string): { dst: string; packet: Buffer } {
  const group = solicitedNode(target);
  const dad = v6(src).bytes.every((x) => x === 0);
  const icmp = message(ICMPV6.NS, 0, target, dad ? undefined : { type: OPT.SOURCE_LLADDR, mac });
  return { dst: multicastMac(group), packet: packet(src, group, icmp) };
}

/** An unsolicited advertisement of `ip` to all nodes, overriding caches (RFC 4861 7.2.6). */
export function unsolicitedAdvertisement(mac: string, ip: string): { dst: string; packet: Buffer } {
  const icmp = message(ICMPV6.NA, NA_FLAG.OVERRIDE, ip, { type: OPT.TARGET_LLADDR, mac });
  return { dst: multicastMac(ALL_NODES), packet: packet(ip, ALL_NODES, icmp) };
}

export interface NdpMessage {
  readonly type: number;
  readonly src: string;
  readonly dst: string;
  readonly target: string;
  readonly flags: number;
  /** The source (NS) or target (NA) link-layer address option. */
  readonly lladdr: string | undefined;
}

/** A neighbour solicitation or advertisement (hop limit 255, valid checksum), or undefined. */
export function decodeNdp(b: Buffer): NdpMessage | undefined {
  if (b.length < 64 || b[0] === undefined || b[0] >> 4 !== 6) return undefined;
  if (b[6] !== NEXT_HEADER_ICMPV6 || b[7] !== 255) return undefined;
  const len = b.readUInt16BE(4);
  if (b.length < 40 + len || len < 24) return undefined;
  const icmp = Buffer.from(b.subarray(40, 40 + len));
  const type = icmp[0];
  if ((type !== ICMPV6.NS && type !== ICMPV6.NA) || icmp[1] !== 0) return undefined;
  const src = new Uint8Array(b.subarray(8, 24));
  const dst = new Uint8Array(b.subarray(24, 40));
  const sum = icmp.readUInt16BE(2);
  icmp.writeUInt16BE(0, 2);
  if (checksum(src, dst, icmp) !== sum) return undefined;
  let lladdr: string | undefined;
  for (let at = 24; at + 8 <= icmp.length; ) {
    const optLen = (icmp[at + 1] ?? 0) * 8;
    if (optLen === 0) break;
    const optType = icmp[at];
    if ((optType === OPT.SOURCE_LLADDR || optType === OPT.TARGET_LLADDR) && optLen >= 8)
      lladdr = formatMac(icmp.subarray(at + 2, at + 8));
    at += optLen;
  }
  return {
    type,
    src: formatIP({ family: 6, bytes: src }),
    dst: formatIP({ family: 6, bytes: dst }),
    target: formatIP({ family: 6, bytes: new Uint8Array(icmp.subarray(8, 24)) }),
    flags: icmp[4] ?? 0,
    lladdr,
  };
}
