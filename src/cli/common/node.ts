/**
 * The node as `validate` sees it, read only: a host interface's MTU and the default-route
 * interface (src/kernel/netdev.ts: sysfs and procfs, no netlink). An interface that is not
 * there is simply not checked: the config may be for another node.
 */
import { defaultRouteInterface, netdevMtu } from '../../kernel/netdev.ts';

export interface NodeView {
  mtu(name: string): number | undefined;
  /** The interface of the default route (a master left unset). */
  readonly defaultInterface: string | undefined;
}

export function readNode(): NodeView {
  return { mtu: (name) => netdevMtu(name), defaultInterface: defaultRouteInterface() };
}
