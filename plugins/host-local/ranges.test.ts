import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addToIP, compareIP, formatIP, type IP, parseIP } from '../../src/ip/ip.ts';
import { cniErrorOf } from '../../test/helpers/skel.ts';
import type { RangeConf } from './config.ts';
import {
  allocation,
  candidates,
  canonicalizeRange,
  canonicalizeSet,
  describeSet,
  type Range,
  type RangeSet,
  rangeContains,
  rangeFor,
  setsOverlap,
} from './ranges.ts';

const ip = (s: string): IP => {
  const v = parseIP(s);
  if (!v) throw new Error(`bad test IP ${s}`);
  return v;
};
const set = (...ranges: RangeConf[]): RangeSet => canonicalizeSet(ranges, 'ipam.ranges[0]');
const subnets = (...s: string[]): RangeSet => set(...s.map((subnet) => ({ subnet })));

/** The first `n` candidates as strings. */
function first(rs: RangeSet, last: string | undefined, n = 100): string[] {
  const out: string[] = [];
  for (const c of candidates(rs, last ? ip(last) : undefined)) {
    out.push(formatIP(c.ip));
    if (out.length >= n) break;
  }
  return out;
}

describe('canonicalizeRange (the reference Range.Canonicalize rules)', () => {
  it('fills start, end and gateway: .1 gateway, the IPv4 broadcast excluded', () => {
    const r = canonicalizeRange({ subnet: '10.1.2.0/24' }, 'ipam');
    expect(formatIP(r.start)).toBe('10.1.2.1');
    expect(formatIP(r.end)).toBe('10.1.2.254');
    expect(formatIP(r.gateway)).toBe('10.1.2.1');
  });

  it('keeps the last IPv6 address of the subnet (no broadcast in v6)', () => {
    const r = canonicalizeRange({ subnet: 'fd00:1::/120' }, 'ipam');
    expect(formatIP(r.start)).toBe('fd00:1::1');
    expect(formatIP(r.end)).toBe('fd00:1::ff');
  });

  it('takes rangeStart, rangeEnd and gateway as given', () => {
    const r = canonicalizeRange(
      { subnet: '10.1.2.0/24', rangeStart: '10.1.2.10', rangeEnd: '10.1.2.20', gateway: '10.1.2.254' },
      'ipam',
    );
    expect([formatIP(r.start), formatIP(r.end), formatIP(r.gateway)]).toEqual([
      '10.1.2.10',
      '10.1.2.20',
      '10.1.2.254',
    ]);
  });

  it.each([
    [{ subnet: '10.0.0.0/31' }, 'ipam.ranges[0][0].subnet', /too small/],
    [{ subnet: '10.0.0.0/32' }, 'ipam.ranges[0][0].subnet', /too small/],
    [{ subnet: 'fd00::/127' }, 'ipam.ranges[0][0].subnet', /too small/],
    [{ subnet: '10.0.0.5/24' }, 'ipam.ranges[0][0].subnet', /host bits set.*10\.0\.0\.0\/24/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, 'ipam.ranges[0][0].rangeStart', /not in network/],
    [{ subnet: '10.0.0.0/24', rangeEnd: '10.0.1.5' }, 'ipam.ranges[0][0].rangeEnd', /not in network/],
    [
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.40' },
      'ipam.ranges[0][0].rangeStart',
      /after rangeEnd/,
    ],
    [{ subnet: '10.0.0.0/24', gateway: 'fd00::1' }, 'ipam.ranges[0][0].gateway', /family/],
  ])('refuses %j, naming %s', (conf, path, why) => {
    const e = cniErrorOf(() => canonicalizeRange(conf as RangeConf, 'ipam.ranges[0][0]'));
    expect(e.code).toBe(7);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    expect(e.message).toMatch(why);
  });

  it('accepts /30 (two hosts) and /126', () => {
    expect(formatIP(canonicalizeRange({ subnet: '10.0.0.0/30' }, 'x').end)).toBe('10.0.0.2');
    expect(formatIP(canonicalizeRange({ subnet: 'fd00::/126' }, 'x').end)).toBe('fd00::3');
  });
});

describe('canonicalizeSet', () => {
  it('refuses an empty set, mixed families and overlaps, with the path of the culprit', () => {
    expect(cniErrorOf(() => canonicalizeSet([], 'ipam.ranges[2]')).message).toBe(
      'ipam.ranges[2]: empty range set',
    );
    expect(
      cniErrorOf(() =>
        canonicalizeSet([{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }], 'ipam.ranges[0]'),
      ).message,
    ).toMatch(/^ipam\.ranges\[0\]\[1\]: mixed address families/);
    expect(
      cniErrorOf(() =>
        canonicalizeSet([{ subnet: '10.0.0.0/16' }, { subnet: '10.0.5.0/24' }], 'ipam.ranges[0]'),
      ).message,
    ).toMatch(
      /^ipam\.ranges\[0\]\[1\]: subnets 10\.0\.0\.1-10\.0\.255\.254 and 10\.0\.5\.1-10\.0\.5\.254 overlap/,
    );
  });

  it('lets two pools of one subnet coexist when their ranges do not overlap', () => {
    const s = set(
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.19' },
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.20', rangeEnd: '10.0.0.29' },
    );
    expect(describeSet(s)).toBe('10.0.0.10-10.0.0.19,10.0.0.20-10.0.0.29');
  });

  it('detects overlap between sets of one family only', () => {
    expect(setsOverlap(subnets('10.0.0.0/24'), subnets('10.0.0.0/25'))).toBe(true);
    expect(setsOverlap(subnets('10.0.0.0/24'), subnets('10.0.1.0/24'))).toBe(false);
    expect(setsOverlap(subnets('10.0.0.0/24'), subnets('fd00::/64'))).toBe(false);
  });
});

describe('rangeFor / rangeContains', () => {
  const s = set(
    { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' },
    { subnet: '10.0.1.0/24' },
  );
  it.each([
    ['10.0.0.10', 0],
    ['10.0.0.20', 0],
    ['10.0.0.9', undefined],
    ['10.0.0.21', undefined],
    ['10.0.1.255', undefined], // the broadcast is past rangeEnd
    ['10.0.1.254', 1],
    ['fd00::1', undefined],
  ])('%s is in range %s', (addr, idx) => {
    const r = rangeFor(s, ip(addr));
    expect(r === undefined ? undefined : s.indexOf(r)).toBe(idx);
  });
});

describe('candidates: the reference allocator order', () => {
  it('starts at rangeStart, skips the gateway, stops before the broadcast', () => {
    expect(first(subnets('10.0.0.0/29'), undefined)).toEqual([
      '10.0.0.2',
      '10.0.0.3',
      '10.0.0.4',
      '10.0.0.5',
      '10.0.0.6',
    ]);
  });

  it('continues after the last reserved IP and wraps around once', () => {
    expect(first(subnets('10.0.0.0/29'), '10.0.0.5')).toEqual([
      '10.0.0.6',
      '10.0.0.2',
      '10.0.0.3',
      '10.0.0.4',
      '10.0.0.5',
    ]);
  });

  it('starts from the beginning when the last reserved IP is outside the set', () => {
    expect(first(subnets('10.0.0.0/29'), '10.0.0.128')).toEqual(first(subnets('10.0.0.0/29'), undefined));
    expect(first(subnets('10.0.0.0/29'), 'fd00::5')).toEqual(first(subnets('10.0.0.0/29'), undefined));
  });

  it('walks range by range through a set and wraps to the first range', () => {
    const s = subnets('10.0.0.0/30', '10.0.1.0/30', '10.0.2.0/30');
    expect(first(s, undefined)).toEqual(['10.0.0.2', '10.0.1.2', '10.0.2.2']);
    expect(first(s, '10.0.0.2')).toEqual(['10.0.1.2', '10.0.2.2', '10.0.0.2']);
    expect(first(s, '10.0.2.2')).toEqual(['10.0.0.2', '10.0.1.2', '10.0.2.2']);
  });

  it('skips a gateway that is rangeStart, and yields nothing when the gateway is all there is', () => {
    expect(
      first(set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.3' }), undefined),
    ).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(
      first(set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' }), undefined),
    ).toEqual([]);
    expect(
      first(set({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' }), '10.0.0.1'),
    ).toEqual([]);
  });

  it('handles IPv6 ranges', () => {
    expect(first(subnets('fd00:1::/64'), undefined, 3)).toEqual(['fd00:1::2', 'fd00:1::3', 'fd00:1::4']);
    expect(first(subnets('fd00:1::/126'), 'fd00:1::3')).toEqual(['fd00:1::2', 'fd00:1::3']);
  });

  it('gives the allocation with the subnet prefix and the range gateway', () => {
    const [r] = set({ subnet: '10.0.0.0/24', gateway: '10.0.0.254' });
    expect(allocation(ip('10.0.0.7'), r as Range)).toEqual({ address: '10.0.0.7/24', gateway: '10.0.0.254' });
  });

  // Property: from any starting point the order is a rotation of the set's addresses (minus
  // gateways), each exactly once, starting just after `last` when `last` is in the set.
  it('is a full rotation of the non-gateway addresses (property)', () => {
    const arbRange = fc
      .record({
        third: fc.integer({ min: 0, max: 255 }),
        start: fc.integer({ min: 0, max: 30 }),
        len: fc.integer({ min: 0, max: 12 }),
        gw: fc.integer({ min: 0, max: 40 }),
      })
      .map(({ third, start, len, gw }) => ({
        subnet: `10.9.${third}.0/26`,
        rangeStart: `10.9.${third}.${start}`,
        rangeEnd: `10.9.${third}.${Math.min(start + len, 62)}`,
        gateway: `10.9.${third}.${gw}`,
      }));
    fc.assert(
      fc.property(
        fc.uniqueArray(arbRange, { minLength: 1, maxLength: 4, selector: (r) => r.subnet }),
        fc.integer({ min: 0, max: 70 }),
        (ranges, lastPick) => {
          const s = canonicalizeSet(ranges, 'p');
          const all: IP[] = [];
          for (const r of s) {
            for (let a = r.start; compareIP(a, r.end) <= 0; a = addToIP(a, 1n)) all.push(a);
          }
          const last = all[lastPick % (all.length + 1)]; // sometimes undefined
          const got = [...candidates(s, last)];
          const want = all.filter(
            (a) => !s.some((r) => rangeContains(r, a) && compareIP(a, r.gateway) === 0),
          );
          // each exactly once
          expect(got.map((c) => formatIP(c.ip)).sort()).toEqual(want.map(formatIP).sort());
          // in set order, rotated to start after `last`
          const order = all.filter((a) => want.includes(a));
          const idx = last ? all.indexOf(last) : -1;
          const after = all
            .slice(idx + 1)
            .concat(all.slice(0, idx + 1))
            .filter((a) => want.includes(a));
          expect(got.map((c) => formatIP(c.ip))).toEqual((last ? after : order).map(formatIP));
          for (const c of got) expect(rangeContains(c.range, c.ip)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
