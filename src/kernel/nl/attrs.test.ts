import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Attr,
  align4,
  decodeAttrList,
  decodeAttrs,
  encodeAttrs,
  formatMac,
  NLA_F_NESTED,
  parseMac,
  readS32,
  readStr,
  readU8,
  readU16,
  readU16be,
  readU32,
  readU64,
  s32,
  str,
  u8,
  u16,
  u16be,
  u32,
  u64,
} from './attrs.ts';

describe('netlink attributes', () => {
  it('encodes type-length-value records padded to 4 bytes', () => {
    const b = encodeAttrs([
      [3, str('eth0')],
      [4, u32(1500)],
      [1, u8(7)],
    ]);
    expect([...b]).toEqual([
      // len 9 (4 + "eth0\0"), type 3, payload, 3 bytes padding
      9, 0, 3, 0, 0x65, 0x74, 0x68, 0x30, 0, 0, 0, 0,
      // len 8, type 4, 1500 LE
      8, 0, 4, 0, 0xdc, 0x05, 0, 0,
      // len 5, type 1, 7, padding
      5, 0, 1, 0, 7, 0, 0, 0,
    ]);
  });

  it('marks nested attributes with NLA_F_NESTED and skips undefined entries', () => {
    const b = encodeAttrs([undefined, [18, [[1, str('macvlan')], undefined, [2, [[1, u32(4)]]]]]]);
    expect(b.readUInt16LE(2)).toBe(18 | NLA_F_NESTED);
    const outer = decodeAttrs(b);
    const li = decodeAttrs(outer.get(18) as Buffer);
    expect(readStr(li.get(1))).toBe('macvlan');
    expect(readU32(decodeAttrs(li.get(2) as Buffer).get(1))).toBe(4);
  });

  it('keeps repeated types in order in the list form; the map keeps the last', () => {
    const b = encodeAttrs([
      [1, u16(1)],
      [1, u16(2)],
      [2, u16(3)],
    ]);
    expect(decodeAttrList(b).map(([t, v]) => [t, readU16(v)])).toEqual([
      [1, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(readU16(decodeAttrs(b).get(1))).toBe(2);
  });

  it('stops at truncated or malformed records instead of reading past the buffer', () => {
    const good = encodeAttrs([[5, u32(9)]]);
    expect(decodeAttrList(Buffer.concat([good, Buffer.from([200, 0, 1, 0, 1, 2])]))).toHaveLength(1);
    expect(decodeAttrList(Buffer.from([2, 0, 1, 0, 8, 0, 1, 0]))).toEqual([]); // len < 4
    expect(decodeAttrList(Buffer.from([8, 0]))).toEqual([]);
    expect(decodeAttrList(Buffer.alloc(0))).toEqual([]);
  });

  it('reads scalars in the right byte order and refuses short payloads', () => {
    expect(readU8(u8(0x1ff))).toBe(0xff);
    expect(readU16(u16(0xbeef))).toBe(0xbeef);
    expect(readU16be(u16be(4789))).toBe(4789);
    expect([...u16be(4789)]).toEqual([0x12, 0xb5]);
    expect(readU32(u32(0xfffffffe))).toBe(0xfffffffe);
    expect(readU32(u32(-1))).toBe(0xffffffff);
    expect(readS32(s32(-5))).toBe(-5);
    expect(readU64(u64(2n ** 63n + 5n))).toBe(2n ** 63n + 5n);
    expect(readU32(Buffer.alloc(3))).toBeUndefined();
    expect(readU16(undefined)).toBeUndefined();
    expect(readStr(Buffer.from('abc'))).toBe('abc'); // no NUL
    expect(readStr(str('x'))).toBe('x');
    expect(readStr(undefined)).toBeUndefined();
  });

  it('formats and parses MAC addresses', () => {
    expect(formatMac(parseMac('0a:58:0A:f4:00:05'))).toBe('0a:58:0a:f4:00:05');
    expect(formatMac(Buffer.alloc(0))).toBeUndefined();
    expect(formatMac(undefined)).toBeUndefined();
  });

  it('round-trips any tree of attributes (property)', () => {
    type Tree = { t: number; v: Uint8Array } | { t: number; kids: Tree[] };
    const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ t: fc.integer({ min: 0, max: 0x3fff }), v: fc.uint8Array({ maxLength: 40 }) }),
        fc.record({
          t: fc.integer({ min: 0, max: 0x3fff }),
          kids: fc.array(tie('tree') as fc.Arbitrary<Tree>, { maxLength: 4 }),
        }),
      ),
    }));
    const toAttr = (n: Tree): Attr => ('v' in n ? [n.t, Buffer.from(n.v)] : [n.t, n.kids.map(toAttr)]);
    const check = (nodes: Tree[], buf: Buffer): void => {
      const list = decodeAttrList(buf);
      expect(list.length).toBe(nodes.length);
      nodes.forEach((n, i) => {
        const [t, v] = list[i] as [number, Buffer];
        expect(t).toBe(n.t);
        if ('v' in n) expect([...v]).toEqual([...n.v]);
        else check(n.kids, v);
      });
    };
    fc.assert(
      fc.property(fc.array(tree, { maxLength: 6 }), (nodes) => {
        const buf = encodeAttrs(nodes.map(toAttr));
        expect(buf.length % 4).toBe(0);
        check(nodes, buf);
      }),
      { numRuns: 300 },
    );
  });

  it('aligns to 4', () => {
    expect([0, 1, 2, 3, 4, 5, 8].map(align4)).toEqual([0, 4, 4, 4, 4, 8, 8]);
  });
});
