/**
 * CHECK helpers: the pod interface carries the result's addresses, and the result's routes
 * are installed — a route given without `gw` is matched against the gateway ADD used, so a
 * correct attachment passes (the reference fails it).
 */

import { CniError, Code, q } from '../cni/errors.ts';
import type { IPConfig, Route } from '../cni/result.ts';
import { equalIP, networkOf, parseCIDR, parseIP } from '../ip/ip.ts';
import * as addr from '../kernel/addr.ts';
import * as route from '../kernel/route.ts';
import type { Rtnl } from '../kernel/socket.ts';
import { effectiveRoute, gateways } from './configure.ts';

export async function checkAddresses(
  pod: Rtnl,
  index: number,
  ifname: string,
  ips: readonly IPConfig[],
): Promise<void> {
  const have = (await addr.list(pod, { index })).map((a) => a.cidr);
  for (const ip of ips) {
    const want = parseCIDR(ip.address);
    const found = have.some((h) => {
      const n = parseCIDR(h);
      return n && want && n.prefix === want.prefix && equalIP(n.ip, want.ip);
    });
    if (!found) {
      throw new CniError(
        Code.Internal,
        `address ${ip.address} of the result is missing on interface ${q(ifname)}`,
      );
    }
  }
}

function sameNet(a: string, b: string): boolean {
  const x = parseCIDR(a);
  const y = parseCIDR(b);
  return !!x && !!y && x.prefix === y.prefix && equalIP(networkOf(x).ip, networkOf(y).ip);
}

export async function checkRoutes(
  pod: Rtnl,
  index: number,
  ifname: string,
  ips: readonly IPConfig[],
  routes: readonly Route[],
  opts: { deviceRoutes?: boolean } = {},
): Promise<void> {
  if (routes.length === 0) return;
  const gws = gateways(ips);
  const have = await route.list(pod, { oif: index });
  for (const r of routes) {
    const eff = opts.deviceRoutes ? { ...r, gw: undefined } : effectiveRoute(r, gws);
    const gw = eff.gw ? parseIP(eff.gw) : undefined;
    const found = have.some(
      (h) =>
        sameNet(h.dst, eff.dst) &&
        (!gw || (h.gw !== undefined && equalIP(parseIP(h.gw) ?? gw, gw))) &&
        (eff.table === undefined || h.table === eff.table),
    );
    if (!found) {
      throw new CniError(
        Code.Internal,
        `route ${eff.dst}${eff.gw ? ` via ${eff.gw}` : ''} of the result is missing on interface ${q(ifname)}`,
      );
    }
  }
}
