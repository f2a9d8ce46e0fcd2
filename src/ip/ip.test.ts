import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addToIP, contains, formatCIDR, formatIP, lastOf, networkOf, parseCIDR, parseIP } from './ip.ts';

describe('parseIP / formatIP', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:0:0:0:0:0:0:5', 'fd00::5'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::A', '2001:db8::a'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('%s -> %s', (input, out) => {
    const ip = parseIP(input);
    expect(ip).toBeDefined();
    if (ip) expect(formatIP(ip)).toBe(out);
  });

  it.each([
    ['256.0.0.1'],
    ['10.0.0'],
    ['01.0.0.1'],
    ['1::2::3'],
    ['1:2:3:4:5:6:7:8:9'],
    [''],
    ['abc'],
    ['10.0.0.1/24'],
  ])('rejects %j', (s) => {
    expect(parseIP(s)).toBeUndefined();
  });

  it('agrees with node:net on random IPv4 and IPv6 strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (s) => {
        const ip = parseIP(s);
        expect(ip).toBeDefined();
        if (!ip) return;
        const printed = formatIP(ip);
        expect(ip.family === 4 ? isIPv4(printed) : isIPv6(printed)).toBe(true);
        expect(parseIP(printed)).toEqual(ip);
      }),
    );
  });
});

describe('prefixes', () => {
  it('parses and masks', () => {
    const n = parseCIDR('10.1.2.3/16');
    expect(n && formatCIDR(networkOf(n))).toBe('10.1.0.0/16');
    expect(n && formatIP(lastOf(n))).toBe('10.1.255.255');
    expect(parseCIDR('10.0.0.0/33')).toBeUndefined();
    expect(parseCIDR('fd00::/129')).toBeUndefined();
    expect(parseCIDR('fd00::1/64') && formatIP(lastOf(parseCIDR('fd00::1/64') as never))).toBe(
      'fd00::ffff:ffff:ffff:ffff',
    );
  });

  it('contains and steps', () => {
    const n = parseCIDR('192.168.1.0/24');
    const ip = parseIP('192.168.1.255');
    expect(n && ip && contains(n, ip)).toBe(true);
    expect(n && ip && contains(n, addToIP(ip, 1n))).toBe(false);
    expect(ip && formatIP(addToIP(ip, 1n))).toBe('192.168.2.0');
  });
});
