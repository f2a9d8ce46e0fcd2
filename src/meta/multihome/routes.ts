/**
 * Routes of a multi-homed pod, inside its namespace:
 * - One default route per family in the main table: the owner's (owners.ts). Default routes
 *   on the other interfaces of this call are deleted; the owner's is added when its delegate
 *   could not (the master's was there first) or only gave a gateway.
 * - policyRouting: every attachment that does not own the default route of a family gets
 *   table TABLE_BASE + its interface index, holding copies of its main-table routes and a
 *   default route via its gateway, and one rule per address, `from <address> lookup <table>`,
 *   at RULE_PRIORITY. Interface indexes are unique in a namespace, so two attachments or two
 *   manifold calls on one pod never share a table; the rules' selectors are their own
 *   addresses. Routes and rules manifold adds carry RTPROT_MANIFOLD, so DEL finds exactly them.
 */

import type { Pod } from '../../attach/pod.ts';
import type { Undo } from '../../attach/undo.ts';
import type { Route as ResultRoute } from '../../cni/result.ts';
import type { Family } from '../../ip/ip.ts';
import { isErrno } from '../../kernel/errors.ts';
import { RT_TABLE_MAIN, RTN_UNICAST } from '../../kernel/nl/constants.ts';
import * as route from '../../kernel/route.ts';
import * as rule from '../../kernel/rule.ts';
import { log } from '../../util/log.ts';
import { isDefaultRoute } from './owners.ts';
import type { AttachmentState } from './state.ts';
import { addresses, type View, where } from './views.ts';

export const TABLE_BASE = 10000;
export const RULE_PRIORITY = 30000;
/** The route/rule protocol of what manifold adds (`ip route … proto 109`); RTPROT_* values below 5 are the kernel's. */
export const RTPROT_MANIFOLD = 109;

const defaultDst = (family: Family) => (family === 4 ? '0.0.0.0/0' : '::/0');
const isDefault = (r: route.Route) => r.dst.endsWith('/0');
const inMain = (r: ResultRoute) => r.table === undefined || r.table === RT_TABLE_MAIN;

function undoable(r: route.Route): route.Route {
  return {
    dst: r.dst,
    gw: r.gw,
    oif: r.oif,
    scope: r.scope,
    table: r.table,
    priority: r.priority,
    mtu: r.mtu,
    advmss: r.advmss,
    onlink: r.onlink,
    src: r.src,
    protocol: r.protocol,
  };
}

/**
 * Makes the main table's default routes of `families` those of their owners: first those of
 * every other interface of this call go, then the owner's is added if it is not there. A
 * default route of an interface of another call (another manifold network on the pod) is
 * left alone: if it is in the way, the first one wins, as when a delegate adds routes.
 */
export async function fixDefaultRoutes(
  pod: Pod,
  families: readonly Family[],
  views: readonly View[],
  undo: Undo,
): Promise<void> {
  for (const family of families) {
    const main = await route.list(pod.rtnl, { family, table: RT_TABLE_MAIN });
    const on = (v: View) => main.filter((r) => isDefault(r) && r.oif === v.link.index);
    for (const v of views.filter((x) => !x.plan.owns[family])) {
      for (const r of on(v)) {
        await route.remove(pod.rtnl, undoable(r), where(v));
        undo.push(`restore ${route.describeRoute(r)} on ${where(v)}`, () =>
          route.add(pod.rtnl, undoable(r), where(v)),
        );
      }
    }
    for (const v of views.filter((x) => x.plan.owns[family])) {
      const wanted = (v.plan.result?.routes ?? []).filter((r) => isDefaultRoute(r, family) && inMain(r));
      const gateways = new Set(wanted.map((r) => r.gw ?? v.plan.gateways[family]));
      const present = on(v);
      // the owner keeps its own default route when it goes where the result says (the usual
      // case); one via another gateway (a requested `default-route`) is replaced
      if (present.length > 0 && present.every((r) => gateways.has(r.gw))) continue;
      for (const r of present.filter((p) => !gateways.has(p.gw))) {
        await route.remove(pod.rtnl, undoable(r), where(v));
        undo.push(`restore ${route.describeRoute(r)} on ${where(v)}`, () =>
          route.add(pod.rtnl, undoable(r), where(v)),
        );
      }
      for (const r of wanted) {
        const add: route.Route = {
          dst: defaultDst(family),
          gw: r.gw ?? v.plan.gateways[family],
          oif: v.link.index,
          priority: r.priority,
          mtu: r.mtu,
          advmss: r.advmss,
          protocol: RTPROT_MANIFOLD,
        };
        try {
          await route.add(pod.rtnl, add, where(v));
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
          log.info(
            `${route.describeRoute(add)} on ${where(v)} not added: another interface of the pod has one`,
          );
          continue;
        }
        undo.push(`delete ${route.describeRoute(add)} on ${where(v)}`, () =>
          route.remove(pod.rtnl, add, where(v)),
        );
      }
    }
  }
}

/** The routes of an attachment's own table: its main-table routes and a default via its gateway. */
async function tableRoutes(pod: Pod, v: View, family: Family, table: number): Promise<route.Route[]> {
  const main = await route.list(pod.rtnl, { family, table: RT_TABLE_MAIN, oif: v.link.index });
  const copies = main.filter((r) => !isDefault(r) && (r.type ?? RTN_UNICAST) === RTN_UNICAST);
  const gw = v.plan.gateways[family];
  const own = v.plan.ownDefaults.filter((r) => isDefaultRoute(r, family) && inMain(r));
  const via = own.length > 0 ? own.map((r) => r.gw ?? gw) : [gw];
  return [
    ...copies.map((r) => ({ ...undoable(r), table, protocol: RTPROT_MANIFOLD })),
    ...[...new Set(via)]
      .filter((g): g is string => g !== undefined)
      .map(
        (g): route.Route => ({
          dst: defaultDst(family),
          gw: g,
          oif: v.link.index,
          table,
          protocol: RTPROT_MANIFOLD,
        }),
      ),
  ];
}

/** policyRouting: a table and source rules for each family the attachment does not own. */
export async function addPolicyRouting(pod: Pod, v: View, state: AttachmentState, undo: Undo): Promise<void> {
  const table = TABLE_BASE + v.link.index;
  for (const family of [4, 6] as const) {
    const ips = addresses(v, family);
    if (v.plan.owns[family] || ips.length === 0) continue;
    // the table first, so a rule never points at an empty table
    for (const r of await tableRoutes(pod, v, family, table)) {
      await route.add(pod.rtnl, r, `table ${table} of ${where(v)}`);
      undo.push(`delete ${route.describeRoute(r)} from table ${table}`, () =>
        route.remove(pod.rtnl, r, `table ${table}`),
      );
    }
    for (const ip of ips) {
      const r: rule.Rule = {
        family,
        src: `${ip}/${family === 4 ? 32 : 128}`,
        table,
        priority: RULE_PRIORITY,
        protocol: RTPROT_MANIFOLD,
      };
      await rule.add(pod.rtnl, r);
      undo.push(`delete rule "${rule.describeRule(r)}"`, () => rule.remove(pod.rtnl, r));
    }
    state.tables = [...(state.tables ?? []), { table, family }];
  }
}
