/**
 * What the bridge makes of an IPAM result (the reference's calcGateways): every IP belongs to
 * the pod interface (index 2); with isGateway an IP without gateway gets the first address of
 * its subnet; with isDefaultGateway a default route via that gateway is added per family
 * unless IPAM already gave one; the gateways (with the subnet's prefix) go on the bridge.
 */

import type { IPConfig, Route } from '../../src/cni/result.ts';
import { addToIP, formatIP, networkOf, parseCIDR, parseIP } from '../../src/ip/ip.ts';

export const POD_INTERFACE_INDEX = 2;

export interface Gateways {
  readonly ips: IPConfig[];
  readonly routes: Route[];
  /** Addresses for the bridge (CIDR, gateway IP with the pod subnet's prefix), per family. */
  readonly bridgeAddrs: { readonly 4: string[]; readonly 6: string[] };
}

/** The first address after the network address: 10.1.0.0/24 → 10.1.0.1. */
export function defaultGatewayOf(cidr: string): string | undefined {
  const n = parseCIDR(cidr);
  return n ? formatIP(addToIP(networkOf(n).ip, 1n)) : undefined;
}

function isDefaultDst(dst: string, family: 4 | 6): boolean {
  const n = parseCIDR(dst);
  return !!n && n.prefix === 0 && n.ip.family === family;
}

export function calcGateways(
  ipamIps: readonly IPConfig[],
  ipamRoutes: readonly Route[],
  opts: { isGW: boolean; isDefaultGW: boolean },
): Gateways {
  const routes = [...ipamRoutes];
  const bridgeAddrs: { 4: string[]; 6: string[] } = { 4: [], 6: [] };
  const defaultDone = { 4: false, 6: false };
  const ips = ipamIps.map((ip) => {
    const n = parseCIDR(ip.address);
    const out: IPConfig = { ...ip, interface: POD_INTERFACE_INDEX };
    if (!n) return out;
    const fam = n.ip.family;
    if (!out.gateway && opts.isGW) out.gateway = defaultGatewayOf(ip.address);
    if (opts.isDefaultGW && !defaultDone[fam]) {
      // A default route from IPAM counts with or without its own gw: without one it goes via
      // this gateway anyway (the reference adds a second one and fails on "file exists").
      if (!routes.some((r) => isDefaultDst(r.dst, fam))) {
        routes.push({ dst: fam === 4 ? '0.0.0.0/0' : '::/0', gw: out.gateway });
      }
      defaultDone[fam] = true;
    }
    if (opts.isGW && out.gateway && parseIP(out.gateway)?.family === fam) {
      bridgeAddrs[fam].push(`${out.gateway}/${n.prefix}`);
    }
    return out;
  });
  return { ips, routes, bridgeAddrs };
}
