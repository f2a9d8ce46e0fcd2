/** The host-side parent of a macvlan/ipvlan/vxlan: named, or the default-route interface. */

import { CniError, Code, q } from '../cni/errors.ts';
import * as link from '../kernel/link.ts';
import * as route from '../kernel/route.ts';
import type { Rtnl } from '../kernel/socket.ts';

/** Looks up `name`, or the interface of the default route when `name` is not given. */
export async function resolveMaster(h: Rtnl, name: string | undefined, where: string): Promise<link.Link> {
  if (name) {
    const l = await link.byName(h, name);
    if (!l) throw new CniError(Code.Internal, `failed to find master ${q(name)} ${where}: no such device`);
    return l;
  }
  const oif = await route.defaultRouteOif(h);
  const l = oif === undefined ? undefined : await link.byIndex(h, oif);
  if (!l) {
    throw new CniError(
      Code.InvalidConfig,
      `master: not set, and there is no default route ${where} to take its interface from`,
    );
  }
  return l;
}
