/**
 * What multi-homing does to one pod, decided from the delegates' results and the options
 * alone (no kernel access): per attachment its pod interface, addresses, gateways, the
 * families whose default route it owns, a MAC derived from its IPv4 address; the results as
 * they will be true of the kernel (default routes only on their owners, derived MACs); and
 * whether anything needs doing in the pod at all (when not, ADD costs nothing more).
 */
import type { IPConfig, Result, Route } from '../../cni/result.ts';
import { type Family, familyOf, parseCIDR } from '../../ip/ip.ts';
import { anyOn, type OptionFields, type Options, resolveOptions } from './options.ts';
import { defaultRouteOwners, FAMILIES, gatewayOf, isDefaultRoute } from './owners.ts';

/** One attachment as the meta-plugin holds it (src/meta/attachment.ts `Attached`). */
export interface Attachment {
  readonly delegate: {
    readonly master: boolean;
    readonly defaultRoute: boolean;
    readonly multihome?: OptionFields | undefined;
    /** Gateways the pod asked for (the annotation's `default-route`): its default routes go via them. */
    readonly gatewayRequest?: readonly string[] | undefined;
  };
  readonly ifname: string;
  readonly result: Result | undefined;
}

export interface AttachmentPlan {
  readonly ifname: string;
  readonly options: Options;
  readonly ips: readonly IPConfig[];
  readonly gateways: Readonly<Record<Family, string | undefined>>;
  readonly owns: Readonly<Record<Family, boolean>>;
  /** Default routes of the delegate's own result (a policy table starts from them). */
  readonly ownDefaults: readonly Route[];
  /** The MAC macFromIPv4 gives it. */
  readonly mac: string | undefined;
  /** The delegate's result as the kernel will have it after ADD. */
  readonly result: Result | undefined;
}

export interface Plan {
  readonly attachments: readonly AttachmentPlan[];
  /** Families whose default routes must be put right in the kernel. */
  readonly defaultRoutes: readonly Family[];
  /** Anything at all to do in the pod. */
  readonly work: boolean;
}

/** The index of the pod interface `ifname` in a result. */
export function podInterfaceIndex(r: Result | undefined, ifname: string): number {
  const all = r?.interfaces ?? [];
  const inPod = all.findIndex((i) => i.name === ifname && i.sandbox);
  return inPod >= 0 ? inPod : all.findIndex((i) => i.name === ifname);
}

/** The IPs of the pod interface (IPs that name no interface count as its own). */
export function podIPs(r: Result | undefined, ifname: string): IPConfig[] {
  const index = podInterfaceIndex(r, ifname);
  return (r?.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === index);
}

export function macFromIPv4(prefix: string, ips: readonly IPConfig[]): string | undefined {
  const v4 = ips.map((ip) => parseCIDR(ip.address)).find((n) => n?.ip.family === 4);
  if (!v4) return undefined;
  return [prefix, ...[...v4.ip.bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function adjusted(
  r: Result | undefined,
  ifname: string,
  owns: Record<Family, boolean>,
  master: boolean,
  mac: string | undefined,
): Result | undefined {
  if (!r) return r;
  // a moved default route names its gateway: in the merged result "via the family's gateway" is ambiguous
  const routes = (r.routes ?? [])
    .filter((rt) => {
      const fam = familyOf(rt.dst);
      return !isDefaultRoute(rt) || (fam !== undefined && owns[fam]);
    })
    .map((rt) => {
      const fam = familyOf(rt.dst);
      return !master && isDefaultRoute(rt) && !rt.gw && fam ? { ...rt, gw: gatewayOf(r, fam) } : rt;
    });
  for (const fam of FAMILIES) {
    const gw = gatewayOf(r, fam);
    if (owns[fam] && !master && gw && !routes.some((rt) => isDefaultRoute(rt, fam)))
      routes.push({ dst: fam === 4 ? '0.0.0.0/0' : '::/0', gw });
  }
  const index = podInterfaceIndex(r, ifname);
  const interfaces = r.interfaces?.map((i, k) => (k === index && mac ? { ...i, mac } : { ...i }));
  return { ...r, interfaces, routes };
}

/**
 * The delegate's result with the default routes the pod asked for (Multus's `default-route`):
 * per family with a requested gateway, one default route via it instead of the delegate's own.
 */
export function withRequestedGateways(a: Attachment): Result | undefined {
  const asked = a.delegate.gatewayRequest ?? [];
  if (!a.result || asked.length === 0) return a.result;
  let routes = [...(a.result.routes ?? [])];
  for (const gw of asked) {
    const fam = familyOf(gw);
    if (fam === undefined) continue;
    routes = routes.filter((r) => !isDefaultRoute(r, fam));
    routes.push({ dst: fam === 4 ? '0.0.0.0/0' : '::/0', gw });
  }
  return { ...a.result, routes };
}

export function planFor(meta: OptionFields, given: readonly Attachment[]): Plan {
  const attached = given.map((a) => ({ ...a, result: withRequestedGateways(a) }));
  const owners = defaultRouteOwners(
    attached.map((a) => ({
      master: a.delegate.master,
      defaultRoute: a.delegate.defaultRoute,
      result: a.result,
    })),
  );
  const defaultRoutes = new Set<Family>();
  const attachments = attached.map((a, i): AttachmentPlan => {
    const options = resolveOptions(meta, a.delegate.multihome);
    const ownDefaults = (a.result?.routes ?? []).filter((r) => isDefaultRoute(r));
    const has = (fam: Family) => ownDefaults.some((r) => isDefaultRoute(r, fam));
    // a family nobody owns: each attachment keeps the default route its IPAM gave, no kernel work
    const owns = {
      4: owners[4] === i || (owners[4] < 0 && has(4)),
      6: owners[6] === i || (owners[6] < 0 && has(6)),
    };
    for (const fam of FAMILIES) {
      if (owners[fam] < 0) continue;
      const asked = a.delegate.gatewayRequest?.some((g) => familyOf(g) === fam) === true;
      if ((owns[fam] && (!a.delegate.master || asked)) || (!owns[fam] && has(fam))) defaultRoutes.add(fam);
    }
    const ips = podIPs(a.result, a.ifname);
    const mac = options.macPrefix ? macFromIPv4(options.macPrefix, ips) : undefined;
    return {
      ifname: a.ifname,
      options,
      ips,
      gateways: { 4: gatewayOf(a.result, 4), 6: gatewayOf(a.result, 6) },
      owns,
      ownDefaults,
      mac,
      result: adjusted(a.result, a.ifname, owns, a.delegate.master, mac),
    };
  });
  const work = defaultRoutes.size > 0 || attachments.some((p) => anyOn(p.options) && p.result !== undefined);
  return { attachments, defaultRoutes: [...defaultRoutes], work };
}
