/**
 * Addresses in a result as the reference prints them (Go's net.IP/IPNet String): IPv6
 * lower-case and compressed, no leading zeros. Configs may spell them any valid way; the
 * result (and everything that compares it, CHECK included) sees one spelling.
 */
import { formatCIDR, formatIP, parseCIDR, parseIP } from '../ip/ip.ts';
import type { Route } from './result.ts';

export function canonicalCIDR(s: string): string {
  const n = parseCIDR(s);
  return n ? formatCIDR(n) : s;
}

export function canonicalIP(s: string): string {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : s;
}

/** A route with its dst and gw canonical; the other fields as they are. */
export function canonicalRoute<R extends Route>(r: R): R {
  return { ...r, dst: canonicalCIDR(r.dst), ...(r.gw ? { gw: canonicalIP(r.gw) } : {}) };
}
