/**
 * The annotation's `default-route` across all attachments: at most one IPv4 and one IPv6
 * gateway for the whole pod (code 7 naming both requests otherwise). The delegate that asks
 * is marked `defaultRoute` (its default routes are the pod's) and carries `gatewayRequest`
 * for the routing code; `default-route: []` keeps that attachment's own default route.
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import { parseIP } from '../../ip/ip.ts';
import type { Delegate } from '../delegates.ts';
import { NETWORKS_ANNOTATION } from './annotation.ts';

export function checkDefaultRoutes(delegates: readonly Delegate[]): void {
  const seen = new Map<number, { gw: string; net: string }>();
  for (const d of delegates) {
    const net = d.k8s?.statusName ?? d.network.name;
    for (const gw of d.gatewayRequest ?? []) {
      const family = parseIP(gw)?.family ?? 4;
      const first = seen.get(family);
      if (first) {
        throw new CniError(
          Code.InvalidConfig,
          `pod annotation ${NETWORKS_ANNOTATION}: "default-route" asks for two IPv${family} default gateways: ${q(first.gw)} (network ${q(first.net)}) and ${q(gw)} (network ${q(net)})`,
          'a pod has at most one IPv4 and one IPv6 default route',
        );
      }
      seen.set(family, { gw, net });
    }
  }
}
