/**
 * One result for the whole pod: every delegate's interfaces in order (the master's first),
 * `ips[].interface` renumbered into the merged list, every delegate's routes except default
 * routes (0.0.0.0/0, ::/0) of delegates that are not the default-route one, and the master's
 * DNS. Multus returns only the master's result; this is the superset a runtime can read.
 */

import type { Result, Route } from '../cni/result.ts';
import { parseCIDR } from '../ip/ip.ts';

export interface Part {
  readonly result: Result;
  readonly master: boolean;
  /** Its default routes are kept. */
  readonly defaultRoute: boolean;
}

const isDefault = (r: Route) => parseCIDR(r.dst)?.prefix === 0;

export function mergeResults(parts: readonly Part[], cniVersion: string): Result {
  const out: Result = { cniVersion, interfaces: [], ips: [], routes: [] };
  const anyDefaultRoute = parts.some((p) => p.defaultRoute);
  for (const p of parts) {
    const offset = out.interfaces?.length ?? 0;
    out.interfaces?.push(...(p.result.interfaces ?? []).map((i) => ({ ...i })));
    for (const ip of p.result.ips ?? []) {
      out.ips?.push({ ...ip, interface: ip.interface === undefined ? undefined : ip.interface + offset });
    }
    const keepDefault = anyDefaultRoute ? p.defaultRoute : p.master;
    out.routes?.push(
      ...(p.result.routes ?? []).filter((r) => keepDefault || !isDefault(r)).map((r) => ({ ...r })),
    );
    if (p.master && p.result.dns) out.dns = { ...p.result.dns };
  }
  return out;
}
