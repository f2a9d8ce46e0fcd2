/**
 * CHECK of multi-homing, after the delegates' own CHECKs: the main table has no default
 * route on an interface of this call whose cached result has none (one default route per
 * family, the owner's), and every policy table ADD made still has its rule for each address.
 */
import { withPod } from '../../attach/pod.ts';
import { CniError, Code, q } from '../../cni/errors.ts';
import { equalIP, familyOf, parseCIDR } from '../../ip/ip.ts';
import * as link from '../../kernel/link.ts';
import { RT_TABLE_MAIN } from '../../kernel/nl/constants.ts';
import * as route from '../../kernel/route.ts';
import * as rule from '../../kernel/rule.ts';
import type { Cached } from './cleanup.ts';
import { isDefaultRoute } from './owners.ts';
import { podIPs } from './plan.ts';
import { TABLE_BASE } from './routes.ts';

function sameCIDR(a: string, b: string): boolean {
  const x = parseCIDR(a);
  const y = parseCIDR(b);
  return x !== undefined && y !== undefined && x.prefix === y.prefix && equalIP(x.ip, y.ip);
}

export async function checkMultihoming(netns: string, cached: readonly Cached[]): Promise<void> {
  await withPod(netns, async (pod) => {
    const links = new Map((await link.list(pod.rtnl)).map((l) => [l.name, l]));
    for (const family of [4, 6] as const) {
      const main = await route.list(pod.rtnl, { family, table: RT_TABLE_MAIN });
      const rules = await rule.list(pod.rtnl, family);
      for (const c of cached) {
        const l = links.get(c.ifname);
        if (!l) continue; // the delegate's CHECK says so
        const expected = (c.result?.routes ?? []).some((r) => isDefaultRoute(r, family));
        const extra = main.find((r) => r.dst.endsWith('/0') && r.oif === l.index);
        if (extra && !expected) {
          throw new CniError(
            Code.Internal,
            `interface ${q(c.ifname)} has a default route (${route.describeRoute(extra)}) its result does not have: the pod must have one per family`,
          );
        }
        const table = TABLE_BASE + l.index;
        if (!c.state?.tables?.some((t) => t.table === table && t.family === family)) continue;
        for (const ip of podIPs(c.result, c.ifname).filter((x) => familyOf(x.address) === family)) {
          const src = `${ip.address.slice(0, ip.address.indexOf('/'))}/${family === 4 ? 32 : 128}`;
          if (!rules.some((r) => r.table === table && r.src !== undefined && sameCIDR(r.src, src))) {
            throw new CniError(
              Code.Internal,
              `policy rule "from ${src} lookup ${table}" of interface ${q(c.ifname)} is missing`,
            );
          }
        }
      }
    }
  });
}
