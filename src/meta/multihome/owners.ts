/**
 * Which attachment owns a pod's default route, per address family: the first delegate marked
 * `defaultRoute` that has a default route or a gateway of that family in its result, else
 * the master. The merged result keeps only the owners' default routes, and ADD makes the
 * kernel agree (src/meta/multihome/routes.ts).
 */
import type { Result, Route } from '../../cni/result.ts';
import { type Family, familyOf, parseCIDR } from '../../ip/ip.ts';

export interface RoutePart {
  readonly master: boolean;
  readonly defaultRoute: boolean;
  readonly result: Result | undefined;
}

export const FAMILIES: readonly Family[] = [4, 6];

export function isDefaultRoute(r: Route, family?: Family): boolean {
  const n = parseCIDR(r.dst);
  return n !== undefined && n.prefix === 0 && (family === undefined || n.ip.family === family);
}

/** The first gateway of `family` among the result's IPs. */
export function gatewayOf(r: Result | undefined, family: Family): string | undefined {
  return r?.ips?.find((ip) => ip.gateway && familyOf(ip.address) === family)?.gateway;
}

function qualifies(p: RoutePart, family: Family): boolean {
  return (
    p.defaultRoute &&
    ((p.result?.routes ?? []).some((r) => isDefaultRoute(r, family)) ||
      gatewayOf(p.result, family) !== undefined)
  );
}

/** The index of the part that owns the default route of `family` (-1: no master, none). */
export function defaultRouteOwner(parts: readonly RoutePart[], family: Family): number {
  const marked = parts.findIndex((p) => qualifies(p, family));
  return marked >= 0 ? marked : parts.findIndex((p) => p.master);
}

/** The owner of each family. */
export function defaultRouteOwners(parts: readonly RoutePart[]): Record<Family, number> {
  return { 4: defaultRouteOwner(parts, 4), 6: defaultRouteOwner(parts, 6) };
}
