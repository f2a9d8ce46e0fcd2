/**
 * Netlink attribute (rtattr / nlattr) encoding and decoding: type-length-value records padded
 * to 4 bytes, nested records for IFLA_LINKINFO, IFLA_VFINFO_LIST, IFLA_AF_SPEC and the like.
 */

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

/** One attribute to encode: a payload, or a list of nested attributes. */
export type Attr = readonly [type: number, value: Buffer | readonly (Attr | undefined)[]];

export const align4 = (n: number): number => (n + 3) & ~3;

export function encodeAttrs(attrs: readonly (Attr | undefined)[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    if (!a) continue;
    const [type, value] = a;
    const nested = !Buffer.isBuffer(value);
    const payload = nested ? encodeAttrs(value as readonly (Attr | undefined)[]) : (value as Buffer);
    const header = Buffer.alloc(4);
    header.writeUInt16LE(4 + payload.length, 0);
    header.writeUInt16LE(nested ? type | NLA_F_NESTED : type, 2);
    parts.push(header, payload, Buffer.alloc(align4(payload.length) - payload.length));
  }
  return Buffer.concat(parts);
}

/** Every attribute in order (repeated types kept), type flags stripped. */
export function decodeAttrList(buf: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < 4 || off + len > buf.length) break;
    out.push([type, buf.subarray(off + 4, off + len)]);
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last of a repeated type wins). */
export function decodeAttrs(buf: Buffer): Map<number, Buffer> {
  return new Map(decodeAttrList(buf));
}

export const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
export function u16be(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
export function s32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}
/** A NUL-terminated string. */
export const str = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
export const flag = (): Buffer => Buffer.alloc(0);

export const readU8 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 1 ? b.readUInt8(0) : undefined;
export const readU16 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 2 ? b.readUInt16LE(0) : undefined;
export const readU16be = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 2 ? b.readUInt16BE(0) : undefined;
export const readU32 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
export const readS32 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 4 ? b.readInt32LE(0) : undefined;
export const readU64 = (b: Buffer | undefined): bigint | undefined =>
  b && b.length >= 8 ? b.readBigUInt64LE(0) : undefined;
export function readStr(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString();
}

export function formatMac(b: Buffer | undefined): string | undefined {
  if (!b || b.length === 0) return undefined;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(s: string): Buffer {
  return Buffer.from(s.split(':').map((x) => Number.parseInt(x, 16)));
}
