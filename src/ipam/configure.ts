/**
 * Applies an IPAM result to the interface inside the pod, as the reference's ConfigureIface
 * does: IPv6 enabled where needed, addresses, link up, IPv6 duplicate-address detection
 * settled when a v6 gateway will be used, then routes (a route without `gw` goes via the
 * first gateway of its family; a route the pod already has is skipped, as the reference does).
 * Route mtu/advmss are applied too (the reference drops them).
 */

import { CniError, Code, q } from '../cni/errors.ts';
import type { IPConfig, Route } from '../cni/result.ts';
import { parseCIDR } from '../ip/ip.ts';
import * as addr from '../kernel/addr.ts';
import { isErrno } from '../kernel/errors.ts';
import * as link from '../kernel/link.ts';
import type { NetNS } from '../kernel/netns.ts';
import * as route from '../kernel/route.ts';
import type { Rtnl } from '../kernel/socket.ts';
import * as sysctl from '../kernel/sysctl.ts';
import { log } from '../util/log.ts';

const IFA_F_TENTATIVE = 0x40;
const IFA_F_DADFAILED = 0x08;

/** The first gateway of each family among `ips`. */
export function gateways(ips: readonly IPConfig[]): { v4?: string; v6?: string } {
  const out: { v4?: string; v6?: string } = {};
  for (const ip of ips) {
    if (!ip.gateway) continue;
    const fam = parseCIDR(ip.address)?.ip.family;
    if (fam === 4 && !out.v4) out.v4 = ip.gateway;
    if (fam === 6 && !out.v6) out.v6 = ip.gateway;
  }
  return out;
}

/** The route as installed: `gw` defaulted from the family's gateway. */
export function effectiveRoute(r: Route, gws: { v4?: string; v6?: string }): Route {
  if (r.gw) return r;
  const fam = parseCIDR(r.dst)?.ip.family;
  const gw = fam === 6 ? gws.v6 : gws.v4;
  return gw ? { ...r, gw } : r;
}

export interface ConfigureOptions {
  /** Wait for IPv6 DAD before adding routes via a v6 gateway (the reference does). */
  readonly settle?: boolean;
  /**
   * Install every route as a device route, without gateway (ipvlan L3/L3S: no ARP, the
   * master routes everything).
   */
  readonly deviceRoutes?: boolean;
}

export async function configureInterface(
  pod: Rtnl,
  ns: NetNS,
  ifname: string,
  ips: readonly IPConfig[],
  routes: readonly Route[],
  opts: ConfigureOptions = {},
): Promise<void> {
  const l = await link.mustByName(pod, ifname, `in netns ${q(ns.path)}`);
  const where = `interface ${q(ifname)}`;
  if (ips.some((ip) => parseCIDR(ip.address)?.ip.family === 6)) {
    const keys: Record<string, string> = {};
    for (const dev of ['lo', ifname]) {
      if (sysctl.get(ns, `net/ipv6/conf/${dev}/disable_ipv6`) !== '0')
        keys[`net/ipv6/conf/${dev}/disable_ipv6`] = '0';
    }
    keys[`net/ipv6/conf/${ifname}/keep_addr_on_down`] = '1';
    sysctl.set(ns, keys);
  }
  const addresses = log.step('addresses', ifname);
  for (const ip of ips) await addr.add(pod, l.index, ip.address, where);
  await link.set(pod, l.index, { up: true }, where);
  addresses();
  const gws = opts.deviceRoutes ? {} : gateways(ips);
  if (gws.v6 && opts.settle !== false) await settle(pod, l.index, ifname);
  const done = log.step('routes', ifname);
  for (const r of routes) {
    const eff = opts.deviceRoutes ? { ...r, gw: undefined } : effectiveRoute(r, gws);
    try {
      await route.add(
        pod,
        {
          dst: eff.dst,
          gw: eff.gw,
          oif: l.index,
          priority: eff.priority,
          table: eff.table,
          scope: eff.scope,
          mtu: eff.mtu,
          advmss: eff.advmss,
        },
        where,
      );
    } catch (err) {
      // As the reference: the first route to a destination wins (typically the default route
      // of the pod's first network); the meta-plugin puts default routes right afterwards.
      if (!isErrno(err, 'EEXIST')) throw err;
      log.info(`route ${route.describeRoute(eff)} not added to ${where}: the pod already has a route there`);
    }
  }
  done();
}

/** Waits (up to 5 s) until no IPv6 address of the link is tentative. */
export async function settle(pod: Rtnl, index: number, ifname: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v6 = await addr.list(pod, { index, family: 6 });
    const failedDad = v6.find((a) => a.flags & IFA_F_DADFAILED);
    if (failedDad) {
      throw new CniError(
        Code.Internal,
        `failed to settle addresses for "${ifname}": ${failedDad.cidr} failed duplicate address detection`,
      );
    }
    if (!v6.some((a) => a.flags & IFA_F_TENTATIVE)) return;
    if (Date.now() > deadline) {
      throw new CniError(
        Code.Internal,
        `failed to settle addresses for "${ifname}": still tentative after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
