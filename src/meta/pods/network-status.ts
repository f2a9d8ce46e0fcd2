/**
 * The pod's `k8s.v1.cni.cncf.io/network-status` annotation, built as Multus builds it (NPWG
 * spec 4.1.2.2): one entry per pod interface of every delegate (the interfaces with a
 * sandbox), named `<namespace>/<nad>` (or the network's name for a config delegate), with its
 * IPs (without prefix), mac, mtu, `default` on the master's first interface with a gateway,
 * dns, the gateways of the default routes the pod really gets, and the attachment's
 * device-info. Printed like Multus: a JSON list of 4-space-indented objects.
 */
import type { Result, Route } from '../../cni/result.ts';
import { parseCIDR, parseIP } from '../../ip/ip.ts';
import type { Delegate } from '../delegates.ts';

export const NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';

export interface NetworkStatus {
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  mtu?: number;
  default?: boolean;
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  'device-info'?: Record<string, unknown>;
  gateway?: string[];
}

export interface StatusPart {
  readonly delegate: Delegate;
  readonly result: Result;
  readonly deviceInfo?: Record<string, unknown> | undefined;
}

const isDefault = (r: Route) => parseCIDR(r.dst)?.prefix === 0;
const family = (ip: string) => parseIP(ip)?.family ?? 6;

/** The gateways of the default routes this delegate gives the pod (the requested ones replace its own). */
function gateways(p: StatusPart, keepsDefault: boolean): string[] {
  if (!keepsDefault) return [];
  // a default route without gw goes through the gateway of its family's address (as plugins install it)
  const viaIp = (dst: string) =>
    (p.result.ips ?? []).find(
      (ip) => ip.gateway && (parseCIDR(ip.address)?.ip.family ?? 0) === (parseCIDR(dst)?.ip.family ?? -1),
    )?.gateway;
  const own = (p.result.routes ?? []).filter(isDefault).flatMap((r) => {
    const gw = r.gw ?? viaIp(r.dst);
    return gw ? [gw] : [];
  });
  const asked = p.delegate.gatewayRequest ?? [];
  const families = new Set(asked.map(family));
  return [...asked, ...own.filter((g) => !families.has(family(g)))];
}

function dnsOf(r: Result): NetworkStatus['dns'] {
  const d = r.dns;
  if (!d) return {};
  return {
    ...(d.nameservers?.length ? { nameservers: [...d.nameservers] } : {}),
    ...(d.domain ? { domain: d.domain } : {}),
    ...(d.search?.length ? { search: [...d.search] } : {}),
    ...(d.options?.length ? { options: [...d.options] } : {}),
  };
}

export function buildNetworkStatus(parts: readonly StatusPart[]): NetworkStatus[] {
  const anyDefaultRoute = parts.some((p) => p.delegate.defaultRoute);
  const out: NetworkStatus[] = [];
  for (const p of parts) {
    const name = p.delegate.k8s?.statusName ?? p.delegate.network.name;
    const keeps = anyDefaultRoute ? p.delegate.defaultRoute : p.delegate.master;
    const gw = gateways(p, keeps);
    const ifaces = p.result.interfaces ?? [];
    const ips = p.result.ips ?? [];
    const addr = (a: string) => a.split('/')[0] ?? a;
    const podIfaces = ifaces.map((iface, i) => ({ iface, i })).filter((x) => x.iface.sandbox);
    const gwIndex = ips.find((ip) => ip.gateway && ip.interface !== undefined)?.interface;
    const entries = (podIfaces.length ? podIfaces : [undefined]).map((x, n): NetworkStatus => {
      const own = ips.filter((ip) =>
        x ? ip.interface === x.i || (ip.interface === undefined && n === podIfaces.length - 1) : true,
      );
      const isDefaultIface = p.delegate.master && (gwIndex === undefined ? n === 0 : x?.i === gwIndex);
      return {
        name,
        ...(x ? { interface: x.iface.name } : {}),
        ...(own.length ? { ips: own.map((ip) => addr(ip.address)) } : {}),
        ...(x?.iface.mac ? { mac: x.iface.mac } : {}),
        ...(x?.iface.mtu ? { mtu: x.iface.mtu } : {}),
        ...(isDefaultIface ? { default: true } : {}),
        dns: dnsOf(p.result),
        ...(p.deviceInfo ? { 'device-info': p.deviceInfo } : {}),
        ...(gw.length ? { gateway: gw } : {}),
      };
    });
    out.push(...entries);
  }
  return out;
}

/** The annotation value, as Multus writes it. */
export function formatNetworkStatus(entries: readonly NetworkStatus[]): string {
  return `[${entries.map((e) => JSON.stringify(e, null, 4)).join(',')}]`;
}
