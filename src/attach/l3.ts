/**
 * The IP part of an attachment, shared by the built-ins: IPAM ADD (`allocate`: released again
 * if a later step fails, every built-in's one way), arp_notify/ndisc_notify, addresses, link up and routes on the pod interface;
 * and the matching CHECK.
 */

import { CniError, Code, q } from '../cni/errors.ts';
import type { DNS, Interface, IPConfig, Result, Route } from '../cni/result.ts';
import type { Ipam } from '../ipam/client.ts';
import { type ConfigureOptions, configureInterface } from '../ipam/configure.ts';
import { checkAddresses, checkRoutes } from '../ipam/verify.ts';
import * as link from '../kernel/link.ts';
import * as sysctl from '../kernel/sysctl.ts';
import type { Pod } from './pod.ts';
import type { Undo } from './undo.ts';

export interface L3 {
  readonly ips: IPConfig[];
  readonly routes: Route[];
  readonly dns: DNS | undefined;
}

/** Addresses handed over rather than allocated (ipvlan chained after a plugin that had IPAM). */
export interface GivenIPs {
  readonly given: Result;
}

/**
 * IPAM ADD for every built-in: the release pushed on `undo` at once (a later failure, this
 * one included, gives the addresses back), and a result without addresses refused as the
 * reference plugins refuse it.
 */
export async function allocate(ipam: Ipam, undo: Undo): Promise<Result & { ips: IPConfig[] }> {
  const r = await ipam.add();
  undo.push(`release the addresses of IPAM "${ipam.type}"`, () => ipam.del());
  const ips = r.ips ?? [];
  if (ips.length === 0) {
    throw new CniError(Code.Internal, `IPAM plugin "${ipam.type}" returned missing IP config`);
  }
  return { ...r, ips };
}

/** The IP part of a result for the interface at `ifIndex` of the plugin's result. */
export function l3Of(r: Result, ifIndex: number): L3 {
  return {
    ips: (r.ips ?? []).map((ip) => ({ ...ip, interface: ifIndex })),
    routes: r.routes ?? [],
    dns: r.dns,
  };
}

/**
 * Runs IPAM (when there is one) and configures `ifname` in the pod; without IPAM the link is
 * only brought up (an L2 attachment). `ifIndex` is the interface's position in the result.
 * `source` may also be addresses given by a previous plugin (no IPAM call, nothing to release).
 */
export async function configureL3(
  pod: Pod,
  ifname: string,
  source: Ipam | GivenIPs | undefined,
  undo: Undo,
  ifIndex: number,
  opts: ConfigureOptions = {},
): Promise<L3> {
  if (!source) {
    const l = await link.mustByName(pod.rtnl, ifname, `in netns ${q(pod.path)}`);
    await link.set(pod.rtnl, l.index, { up: true }, `interface ${q(ifname)}`);
    return { ips: [], routes: [], dns: undefined };
  }
  const l3 = l3Of('given' in source ? source.given : await allocate(source, undo), ifIndex);
  try {
    sysctl.set(pod.ns, {
      [`net/ipv4/conf/${ifname}/arp_notify`]: '1',
      [`net/ipv6/conf/${ifname}/ndisc_notify`]: '1',
    });
  } catch {
    // best effort, as the reference: IPv6 may be disabled in the pod
  }
  await configureInterface(pod.rtnl, pod.ns, ifname, l3.ips, l3.routes, opts);
  return l3;
}

/** The interface named `ifname` in `sandbox` within prevResult, with its index. */
export function resultInterface(
  prev: Result,
  ifname: string,
  sandbox: string,
): { iface: Interface; index: number } {
  const index = (prev.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox === sandbox);
  const iface = prev.interfaces?.[index];
  if (!iface) {
    throw new CniError(Code.Internal, `prevResult has no interface ${q(ifname)} in sandbox ${q(sandbox)}`);
  }
  return { iface, index };
}

/** CHECK of the IP part: every address of the interface and every route is in the kernel. */
export async function checkL3(
  pod: Pod,
  l: link.Link,
  prev: Result,
  index: number,
  opts: { deviceRoutes?: boolean } = {},
): Promise<void> {
  const ips = (prev.ips ?? []).filter((ip) => ip.interface === index);
  await checkAddresses(pod.rtnl, l.index, l.name, ips);
  await checkRoutes(pod.rtnl, l.index, l.name, ips, prev.routes ?? [], opts);
}

/** CHECK of the link itself: it exists, and its MAC is the one in prevResult. */
export async function checkPodLink(pod: Pod, iface: Interface, kind: string): Promise<link.Link> {
  const l = await link.byName(pod.rtnl, iface.name);
  if (!l) {
    throw new CniError(
      Code.Internal,
      `interface ${q(iface.name)} of prevResult is missing in netns ${q(pod.path)}`,
    );
  }
  if (l.kind !== kind) {
    throw new CniError(
      Code.Internal,
      `interface ${q(iface.name)} is of kind ${q(l.kind ?? 'unknown')}, expected ${q(kind)}`,
    );
  }
  if (iface.mac && iface.mac.toLowerCase() !== l.mac) {
    throw new CniError(
      Code.Internal,
      `interface ${q(iface.name)} has MAC ${l.mac}, prevResult says ${iface.mac}`,
    );
  }
  return l;
}
