/**
 * The result shape of spec 0.1.0 and 0.2.0: `ip4` and `ip6` objects (`ip` as CIDR, `gateway`,
 * `routes` of that family with only `dst`/`gw`) and `dns`; no interfaces. Converted down the
 * way the reference library does (the first address of each family; routes follow their
 * family, dropped when it has no address) and read back into the 1.1.0 model.
 */
import { familyOf } from '../ip/ip.ts';
import type { DNS, IPConfig, Result, Route } from './result.ts';

type Json = Record<string, unknown>;

/** What ResultSchema lets through for `ip4`/`ip6`. */
export interface V02IPConfig {
  ip: string;
  gateway?: string | undefined;
  routes?: { dst: string; gw?: string | undefined }[] | undefined;
}

export function isV02(version: string): boolean {
  return version === '0.1.0' || version === '0.2.0';
}

function route(r: Route): Json {
  return r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst };
}

/** `r` as a 0.1.0/0.2.0 result; `dns` is the already encoded DNS object. */
export function encodeV02(r: Result, version: string, dns: Json): Json {
  const out: Json = { cniVersion: version };
  for (const fam of [4, 6] as const) {
    const ip = (r.ips ?? []).find((x) => familyOf(x.address) === fam);
    if (!ip) continue;
    const o: Json = { ip: ip.address };
    if (ip.gateway) o.gateway = ip.gateway;
    const routes = (r.routes ?? []).filter((x) => familyOf(x.dst) === fam).map(route);
    if (routes.length > 0) o.routes = routes;
    out[`ip${fam}`] = o;
  }
  out.dns = dns;
  return out;
}

/** The addresses and routes of a 0.1.0/0.2.0 result (ip4 first), in the model's terms. */
export function decodeV02(
  ip4: V02IPConfig | undefined,
  ip6: V02IPConfig | undefined,
): { ips: IPConfig[]; routes: Route[] } {
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  for (const c of [ip4, ip6]) {
    if (!c) continue;
    ips.push(c.gateway ? { address: c.ip, gateway: c.gateway } : { address: c.ip });
    for (const r of c.routes ?? []) routes.push(r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst });
  }
  return { ips, routes };
}

export type { DNS };
