/**
 * One result for the whole pod: every delegate's interfaces in order (the master's first),
 * `ips[].interface` renumbered into the merged list, every delegate's routes except the
 * default routes (0.0.0.0/0, ::/0) of delegates that do not own the default route of that
 * family (the master, or a delegate marked `defaultRoute`: multihome/owners.ts; a family
 * nobody owns keeps them all), and the
 * master's DNS. Multus returns only the master's result; this is the superset a runtime can read.
 */

import type { Result } from '../cni/result.ts';
import { familyOf } from '../ip/ip.ts';
import { defaultRouteOwners, isDefaultRoute, keepsDefaultRoute } from './multihome/owners.ts';

export interface Part {
  readonly result: Result;
  readonly master: boolean;
  /** Its default routes are kept. */
  readonly defaultRoute: boolean;
}

export function mergeResults(parts: readonly Part[], cniVersion: string): Result {
  const out: Result = { cniVersion, interfaces: [], ips: [], routes: [] };
  const owners = defaultRouteOwners(parts);
  for (const [i, p] of parts.entries()) {
    const offset = out.interfaces?.length ?? 0;
    out.interfaces?.push(...(p.result.interfaces ?? []).map((iface) => ({ ...iface })));
    for (const ip of p.result.ips ?? []) {
      out.ips?.push({ ...ip, interface: ip.interface === undefined ? undefined : ip.interface + offset });
    }
    const keep = (dst: string) => keepsDefaultRoute(owners, familyOf(dst) ?? 4, i);
    out.routes?.push(
      ...(p.result.routes ?? []).filter((r) => !isDefaultRoute(r) || keep(r.dst)).map((r) => ({ ...r })),
    );
    if (p.master && p.result.dns) out.dns = { ...p.result.dns };
  }
  return out;
}
