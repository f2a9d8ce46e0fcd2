import { describe, expect, it } from 'vitest';
import {
  decodeNdp,
  ICMPV6,
  multicastMac,
  NA_FLAG,
  solicitation,
  solicitedNode,
  unsolicitedAdvertisement,
} from './ndp.ts';

const MAC = '02:00:00:00:00:01';

describe('NDP packets', () => {
  it('computes the solicited-node group and its Ethernet address (RFC 4291 2.7.1)', () => {
    expect(solicitedNode('2001:db8::1:800:200e:8c6c')).toBe('ff02::1:ff0e:8c6c');
    expect(multicastMac('ff02::1:ff0e:8c6c')).toBe('33:33:ff:0e:8c:6c');
    expect(multicastMac('ff02::1')).toBe('33:33:00:00:00:01');
  });

  it('builds a solicitation with our link-layer address, and reads it back (checksum valid)', () => {
    const { dst, packet } = solicitation(MAC, '2001:db8::5', '2001:db8::1');
    expect(dst).toBe('33:33:ff:00:00:01');
    expect(packet.length).toBe(40 + 32);
    expect(packet[7]).toBe(255);
    expect(decodeNdp(packet)).toEqual({
      type: ICMPV6.NS,
      src: '2001:db8::5',
      dst: 'ff02::1:ff00:1',
      target: '2001:db8::1',
      flags: 0,
      lladdr: MAC,
    });
  });

  it('sends a DAD probe from :: without a link-layer option (RFC 4862 5.4.2)', () => {
    const { packet } = solicitation(MAC, '::', '2001:db8::7');
    expect(packet.length).toBe(40 + 24);
    expect(decodeNdp(packet)).toMatchObject({ src: '::', target: '2001:db8::7', lladdr: undefined });
  });

  it('builds an unsolicited advertisement to all nodes with the override flag and our MAC', () => {
    const { dst, packet } = unsolicitedAdvertisement(MAC, '2001:db8::5');
    expect(dst).toBe('33:33:00:00:00:01');
    expect(decodeNdp(packet)).toEqual({
      type: ICMPV6.NA,
      src: '2001:db8::5',
      dst: 'ff02::1',
      target: '2001:db8::5',
      flags: NA_FLAG.OVERRIDE,
      lladdr: MAC,
    });
  });

  it('ignores a bad checksum, a hop limit other than 255 and other ICMPv6', () => {
    const { packet } = unsolicitedAdvertisement(MAC, '2001:db8::5');
    const bad = Buffer.from(packet);
    bad[43] = (bad[43] ?? 0) ^ 0xff;
    expect(decodeNdp(bad)).toBeUndefined();
    const hop = Buffer.from(packet);
    hop[7] = 64;
    expect(decodeNdp(hop)).toBeUndefined();
    const echo = Buffer.from(packet);
    echo[40] = 128;
    expect(decodeNdp(echo)).toBeUndefined();
    expect(decodeNdp(Buffer.alloc(10))).toBeUndefined();
  });
});
