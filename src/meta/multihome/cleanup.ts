/**
 * DEL of multi-homing, before the delegates' DEL: removes what ADD added to the pod —
 * policy rules (manifold's protocol, and this call's tables or addresses), the tables' routes,
 * default routes it added — and puts back the sysctls and MACs it changed. A netns that is
 * gone took all of it with it. Failures are logged, not returned: everything here lives in
 * the pod's namespace and dies with it, so it must never keep the delegates from being
 * deleted (and their addresses released).
 */
import { withPodIfPresent } from '../../attach/pod.ts';
import { describeError } from '../../cni/errors.ts';
import type { Result } from '../../cni/result.ts';
import * as link from '../../kernel/link.ts';
import { RT_TABLE_MAIN } from '../../kernel/nl/constants.ts';
import * as route from '../../kernel/route.ts';
import * as rule from '../../kernel/rule.ts';
import * as sysctl from '../../kernel/sysctl.ts';
import { log } from '../../util/log.ts';
import { podIPs } from './plan.ts';
import { RTPROT_MANIFOLD } from './routes.ts';
import type { AttachmentState } from './state.ts';

export interface Cached {
  readonly ifname: string;
  readonly result: Result | undefined;
  readonly state: AttachmentState | undefined;
}

async function attempt(what: string, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.error(`DEL: failed to ${what}: ${describeError(err)}`);
  }
}

export async function removeMultihoming(netns: string, cached: readonly Cached[]): Promise<void> {
  await withPodIfPresent(netns, async (pod) => {
    const links = new Map((await link.list(pod.rtnl)).map((l) => [l.name, l]));
    const tables = new Set(cached.flatMap((c) => (c.state?.tables ?? []).map((t) => t.table)));
    const sources = new Set(
      cached.flatMap((c) =>
        podIPs(c.result, c.ifname).map((ip) => ip.address.slice(0, ip.address.indexOf('/'))),
      ),
    );
    const indexes = new Set(cached.flatMap((c) => links.get(c.ifname)?.index ?? []));
    for (const family of [4, 6] as const) {
      await attempt(`remove the policy rules of family ${family}`, async () => {
        for (const r of await rule.list(pod.rtnl, family)) {
          const src = r.src?.slice(0, r.src.indexOf('/'));
          if (r.protocol !== RTPROT_MANIFOLD || !(tables.has(r.table) || (src && sources.has(src)))) continue;
          await rule.remove(pod.rtnl, r);
          tables.add(r.table);
        }
      });
      await attempt(`remove the routes manifold added (family ${family})`, async () => {
        for (const r of await route.list(pod.rtnl, { family })) {
          const ours =
            tables.has(r.table ?? 0) ||
            (r.table === RT_TABLE_MAIN && r.protocol === RTPROT_MANIFOLD && indexes.has(r.oif ?? -1));
          if (ours) await route.remove(pod.rtnl, r, `table ${r.table}`);
        }
      });
    }
    for (const c of cached) {
      const l = links.get(c.ifname);
      if (!l) continue;
      const before = c.state?.sysctls;
      if (before && Object.keys(before).length > 0)
        await attempt(`restore the sysctls of ${c.ifname}`, () => sysctl.set(pod.ns, before));
      const mac = c.state?.mac;
      if (mac && l.mac !== mac)
        await attempt(`restore the MAC of ${c.ifname}`, () => link.set(pod.rtnl, l.index, { mac }, c.ifname));
    }
  });
}
