/**
 * host-local ranges: canonicalisation and validation with field paths, and the allocation
 * order of the reference allocator (start after the last reserved IP, wrap around range by
 * range, skip each range's gateway), so both pick the same next address from one store.
 */

import { invalidConfig, q } from '../../src/cni/errors.ts';
import {
  addToIP,
  compareIP,
  contains,
  equalIP,
  formatCIDR,
  formatIP,
  type IP,
  type IPNet,
  isNetwork,
  lastOf,
  networkOf,
  parseCIDR,
  parseIP,
} from '../../src/ip/ip.ts';
import type { RangeConf } from './config.ts';

export interface Range {
  readonly subnet: IPNet;
  readonly start: IP;
  readonly end: IP;
  readonly gateway: IP;
}
export type RangeSet = readonly Range[];

function mustIP(s: string): IP {
  const ip = parseIP(s);
  if (!ip) throw new Error(`not an IP: ${s}`);
  return ip;
}

export function rangeContains(r: Range, ip: IP): boolean {
  return contains(r.subnet, ip) && compareIP(ip, r.start) >= 0 && compareIP(ip, r.end) <= 0;
}

function rangeOverlaps(a: Range, b: Range): boolean {
  if (a.start.family !== b.start.family) return false;
  return (
    rangeContains(a, b.start) ||
    rangeContains(a, b.end) ||
    rangeContains(b, a.start) ||
    rangeContains(b, a.end)
  );
}

export function describeRange(r: Range): string {
  return `${formatIP(r.start)}-${formatIP(r.end)}`;
}

export function describeSet(s: RangeSet): string {
  return s.map(describeRange).join(',');
}

/** Validates one range as the reference does; `path` names it in errors (`ipam.ranges[0][1]`). */
export function canonicalizeRange(c: RangeConf, path: string): Range {
  const subnet = parseCIDR(c.subnet);
  if (!subnet) throw invalidConfig(`${path}.subnet`, `not a CIDR: ${q(c.subnet)}`);
  const width = subnet.ip.family === 4 ? 32 : 128;
  if (subnet.prefix > width - 2) {
    throw invalidConfig(`${path}.subnet`, `network ${formatCIDR(subnet)} is too small to allocate from`);
  }
  if (!isNetwork(subnet)) {
    throw invalidConfig(
      `${path}.subnet`,
      `${q(c.subnet)} has host bits set; the network address is ${formatCIDR(networkOf(subnet))}`,
    );
  }
  const inSubnet = (field: string, v: string): IP => {
    const ip = mustIP(v);
    if (!contains(subnet, ip)) throw invalidConfig(`${path}.${field}`, `${v} is not in network ${c.subnet}`);
    return ip;
  };
  const first = addToIP(subnet.ip, 1n);
  const last = subnet.ip.family === 4 ? addToIP(lastOf(subnet), -1n) : lastOf(subnet);
  const gateway = c.gateway ? mustIP(c.gateway) : first;
  if (c.gateway && gateway.family !== subnet.ip.family) {
    throw invalidConfig(`${path}.gateway`, `${c.gateway} is not of the family of ${c.subnet}`);
  }
  const start = c.rangeStart ? inSubnet('rangeStart', c.rangeStart) : first;
  const end = c.rangeEnd ? inSubnet('rangeEnd', c.rangeEnd) : last;
  if (compareIP(start, end) > 0) {
    throw invalidConfig(`${path}.rangeStart`, `${formatIP(start)} is after rangeEnd ${formatIP(end)}`);
  }
  return { subnet, start, end, gateway };
}

/** Validates a range set: non-empty, one family, no overlaps inside it. */
export function canonicalizeSet(set: readonly RangeConf[], path: string): RangeSet {
  if (set.length === 0) throw invalidConfig(path, 'empty range set');
  const out = set.map((r, i) => canonicalizeRange(r, `${path}[${i}]`));
  const fam = out[0]?.start.family;
  out.forEach((r, i) => {
    if (r.start.family !== fam)
      throw invalidConfig(`${path}[${i}]`, 'mixed address families in one range set');
  });
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const a = out[i];
      const b = out[j];
      if (a && b && rangeOverlaps(a, b)) {
        throw invalidConfig(`${path}[${j}]`, `subnets ${describeRange(a)} and ${describeRange(b)} overlap`);
      }
    }
  }
  return out;
}

export function setsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangeOverlaps(x, y)));
}

export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  return set.find((r) => rangeContains(r, ip));
}

/**
 * The candidates in the reference allocator's order: after `last` (when it lies in the set),
 * else from the first range's start; wrapping once around the whole set; gateways skipped.
 */
export function* candidates(set: RangeSet, last: IP | undefined): Generator<{ ip: IP; range: Range }> {
  if (set.length === 0) return;
  let idx = 0;
  let cur: IP | undefined;
  let startIP: IP | undefined;
  const lastIn = last ? set.findIndex((r) => rangeContains(r, last)) : -1;
  if (last && lastIn >= 0) {
    idx = lastIn;
    cur = last;
  } else {
    startIP = set[0]?.start;
  }
  for (;;) {
    let r = set[idx] as Range;
    if (cur === undefined) {
      cur = r.start;
      startIP = cur;
    } else {
      if (equalIP(cur, r.end)) {
        idx = (idx + 1) % set.length;
        r = set[idx] as Range;
        cur = r.start;
      } else {
        cur = addToIP(cur, 1n);
      }
      if (startIP === undefined) startIP = cur;
      else if (equalIP(cur, startIP)) return;
    }
    if (!equalIP(cur, r.gateway)) yield { ip: cur, range: r };
  }
}

/** An allocated address: the IP with its subnet's prefix length, and the range's gateway. */
export function allocation(ip: IP, r: Range): { address: string; gateway: string } {
  return { address: `${formatIP(ip)}/${r.subnet.prefix}`, gateway: formatIP(r.gateway) };
}
