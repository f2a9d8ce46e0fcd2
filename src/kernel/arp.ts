/**
 * ARP packets over Ethernet (RFC 826), as a packet socket sends and receives them (from the
 * ARP header on): requests, RFC 5227 probes (sender 0.0.0.0) and gratuitous announcements
 * (sender = target), and the reading of any received ARP packet.
 */

import { q } from '../cni/errors.ts';
import { formatIP, parseIP } from '../ip/ip.ts';
import { formatMac, parseMac } from './nl/attrs.ts';

export const ARP_LEN = 28;
export const ARPOP = { REQUEST: 1, REPLY: 2 } as const;

const ZERO_MAC = '00:00:00:00:00:00';

export interface ArpPacket {
  readonly op: number;
  readonly senderMac: string;
  readonly senderIP: string;
  readonly targetMac: string;
  readonly targetIP: string;
}

function v4(ip: string): Buffer {
  const p = parseIP(ip);
  if (p?.family !== 4) throw new Error(`${q(ip)} is not an IPv4 address`);
  return Buffer.from(p.bytes);
}

export function encodeArp(p: ArpPacket): Buffer {
  const b = Buffer.alloc(ARP_LEN);
  b.writeUInt16BE(1, 0); // Ethernet
  b.writeUInt16BE(0x0800, 2); // IPv4
  b.writeUInt8(6, 4);
  b.writeUInt8(4, 5);
  b.writeUInt16BE(p.op, 6);
  parseMac(p.senderMac).copy(b, 8);
  v4(p.senderIP).copy(b, 14);
  parseMac(p.targetMac).copy(b, 18);
  v4(p.targetIP).copy(b, 24);
  return b;
}

/** An Ethernet/IPv4 ARP packet, or undefined for anything else. */
export function decodeArp(b: Buffer): ArpPacket | undefined {
  if (b.length < ARP_LEN) return undefined;
  if (b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) return undefined;
  const ip = (at: number) => formatIP({ family: 4, bytes: new Uint8Array(b.subarray(at, at + 4)) });
  return {
    op: b.readUInt16BE(6),
    senderMac: formatMac(b.subarray(8, 14)) ?? ZERO_MAC,
    senderIP: ip(14),
    targetMac: formatMac(b.subarray(18, 24)) ?? ZERO_MAC,
    targetIP: ip(24),
  };
}

/** RFC 5227 probe: "who has `target`?" from sender 0.0.0.0, so no cache learns anything. */
export function probe(mac: string, target: string): Buffer {
  return encodeArp({
    op: ARPOP.REQUEST,
    senderMac: mac,
    senderIP: '0.0.0.0',
    targetMac: ZERO_MAC,
    targetIP: target,
  });
}

/** An ordinary request for `target` from `ip` (a gateway check). */
export function request(mac: string, ip: string, target: string): Buffer {
  return encodeArp({
    op: ARPOP.REQUEST,
    senderMac: mac,
    senderIP: ip,
    targetMac: ZERO_MAC,
    targetIP: target,
  });
}

/** Gratuitous ARP (RFC 5227 announcement): a request with sender and target both `ip`. */
export function announcement(mac: string, ip: string): Buffer {
  return encodeArp({ op: ARPOP.REQUEST, senderMac: mac, senderIP: ip, targetMac: ZERO_MAC, targetIP: ip });
}
