/** Fixed headers of rtnetlink messages (ifinfomsg, ifaddrmsg, rtmsg, ndmsg, fib_rule_hdr). */

export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

export function ifinfomsg(m: IfInfoMsg): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(m.family ?? 0, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE(m.flags ?? 0, 8);
  b.writeUInt32LE(m.change ?? 0, 12);
  return b;
}

export function parseIfinfomsg(b: Buffer): Required<IfInfoMsg> {
  return {
    family: b.readUInt8(0),
    type: b.readUInt16LE(2),
    index: b.readInt32LE(4),
    flags: b.readUInt32LE(8),
    change: b.readUInt32LE(12),
  };
}
export const IFINFOMSG_LEN = 16;

export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index: number;
}

export function ifaddrmsg(m: IfAddrMsg): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixlen, 1);
  b.writeUInt8(m.flags ?? 0, 2);
  b.writeUInt8(m.scope ?? 0, 3);
  b.writeUInt32LE(m.index, 4);
  return b;
}

export function parseIfaddrmsg(b: Buffer): Required<IfAddrMsg> {
  return {
    family: b.readUInt8(0),
    prefixlen: b.readUInt8(1),
    flags: b.readUInt8(2),
    scope: b.readUInt8(3),
    index: b.readUInt32LE(4),
  };
}
export const IFADDRMSG_LEN = 8;

export interface RtMsg {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

export function rtmsg(m: RtMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen ?? 0, 1);
  b.writeUInt8(m.srcLen ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.protocol ?? 0, 5);
  b.writeUInt8(m.scope ?? 0, 6);
  b.writeUInt8(m.type ?? 0, 7);
  b.writeUInt32LE(m.flags ?? 0, 8);
  return b;
}

export function parseRtmsg(b: Buffer): Required<RtMsg> {
  return {
    family: b.readUInt8(0),
    dstLen: b.readUInt8(1),
    srcLen: b.readUInt8(2),
    tos: b.readUInt8(3),
    table: b.readUInt8(4),
    protocol: b.readUInt8(5),
    scope: b.readUInt8(6),
    type: b.readUInt8(7),
    flags: b.readUInt32LE(8),
  };
}
export const RTMSG_LEN = 12;

export interface NdMsg {
  family: number;
  index: number;
  state?: number;
  flags?: number;
  type?: number;
}

export function ndmsg(m: NdMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(m.family, 0);
  b.writeInt32LE(m.index, 4);
  b.writeUInt16LE(m.state ?? 0, 8);
  b.writeUInt8(m.flags ?? 0, 10);
  b.writeUInt8(m.type ?? 0, 11);
  return b;
}

export function parseNdmsg(b: Buffer): Required<NdMsg> {
  return {
    family: b.readUInt8(0),
    index: b.readInt32LE(4),
    state: b.readUInt16LE(8),
    flags: b.readUInt8(10),
    type: b.readUInt8(11),
  };
}
export const NDMSG_LEN = 12;

/** struct fib_rule_hdr: family, dst_len, src_len, tos, table (u8), res1, res2, action, flags (u32). */
export interface FibRuleHdr {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  action?: number;
  flags?: number;
}

export function fibRuleHdr(m: FibRuleHdr): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen ?? 0, 1);
  b.writeUInt8(m.srcLen ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.action ?? 0, 7);
  b.writeUInt32LE(m.flags ?? 0, 8);
  return b;
}

export function parseFibRuleHdr(b: Buffer): Required<FibRuleHdr> {
  return {
    family: b.readUInt8(0),
    dstLen: b.readUInt8(1),
    srcLen: b.readUInt8(2),
    tos: b.readUInt8(3),
    table: b.readUInt8(4),
    action: b.readUInt8(7),
    flags: b.readUInt32LE(8),
  };
}
export const FIB_RULE_HDR_LEN = 12;
