import { describe, expect, it } from 'vitest';
import { ARPOP, announcement, decodeArp, encodeArp, probe, request } from './arp.ts';

const MAC = '02:00:00:00:00:01';

describe('ARP packets', () => {
  it('builds an RFC 5227 probe: sender 0.0.0.0, target hardware address zero', () => {
    const p = probe(MAC, '10.0.0.5');
    expect(p.toString('hex')).toBe('0001080006040001020000000001000000000000000000000a000005');
    expect(decodeArp(p)).toEqual({
      op: ARPOP.REQUEST,
      senderMac: MAC,
      senderIP: '0.0.0.0',
      targetMac: '00:00:00:00:00:00',
      targetIP: '10.0.0.5',
    });
  });

  it('builds a gratuitous announcement (sender = target) and an ordinary request', () => {
    expect(decodeArp(announcement(MAC, '10.0.0.5'))).toMatchObject({
      senderIP: '10.0.0.5',
      targetIP: '10.0.0.5',
    });
    expect(decodeArp(request(MAC, '10.0.0.5', '10.0.0.1'))).toMatchObject({
      op: ARPOP.REQUEST,
      senderIP: '10.0.0.5',
      targetIP: '10.0.0.1',
    });
  });

  it('reads replies and refuses what is not Ethernet/IPv4 ARP', () => {
    const reply = encodeArp({
      op: ARPOP.REPLY,
      senderMac: '02:aa:bb:cc:dd:ee',
      senderIP: '10.0.0.1',
      targetMac: MAC,
      targetIP: '10.0.0.5',
    });
    expect(decodeArp(reply)?.senderMac).toBe('02:aa:bb:cc:dd:ee');
    const ipv6 = Buffer.from(reply);
    ipv6.writeUInt16BE(0x86dd, 2);
    expect(decodeArp(ipv6)).toBeUndefined();
    expect(decodeArp(reply.subarray(0, 20))).toBeUndefined();
    expect(() => probe(MAC, '2001:db8::1')).toThrow(/not an IPv4 address/);
  });
});
