/**
 * Which attachment owns a pod's default route, per address family: the first delegate marked
 * `defaultRoute` that has a default route or a gateway of that family in its result, else
 * the master when its result has a default route of that family, else none. The merged
 * result keeps only the owner's default routes, and ADD makes the kernel agree
 * (src/meta/multihome/routes.ts). A family nobody owns keeps every attachment's default
 * route as IPAM gave it (as Multus: other attachments' default routes are filtered only
 * where one is chosen), so a pod never loses the only default route of a family.
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

/** The index of the part that owns the default route of `family` (-1: none is chosen). */
export function defaultRouteOwner(parts: readonly RoutePart[], family: Family): number {
  const marked = parts.findIndex((p) => qualifies(p, family));
  if (marked >= 0) return marked;
  return parts.findIndex((p) => p.master && (p.result?.routes ?? []).some((r) => isDefaultRoute(r, family)));
}

/** Whether part `i` keeps its default routes of `family`: it owns the family, or nobody does. */
export function keepsDefaultRoute(owners: Record<Family, number>, family: Family, i: number): boolean {
  return owners[family] < 0 || owners[family] === i;
}

/** The owner of each family. */
export function defaultRouteOwners(parts: readonly RoutePart[]): Record<Family, number> {
  return { 4: defaultRouteOwner(parts, 4), 6: defaultRouteOwner(parts, 6) };
}
