/**
 * ADD of multi-homing, once every delegate is attached: in the pod, in this order, each step
 * undone if a later one fails —
 *   1. macFromIPv4: the derived MAC on each interface that asks for one;
 *   2. multihomeSysctls;
 *   3. addressConflictCheck (fails ADD naming the address and the MAC holding it);
 *   4. gatewayCheck (warn: logged; fail: fails ADD naming the gateway);
 *   5. one default route per family, the owner's;
 *   6. policyRouting tables and rules;
 *   7. announce, last, when everything it announces is true.
 * Returns, per attachment, what DEL needs (state.ts).
 */
import { type Pod, withPod } from '../../attach/pod.ts';
import { transaction, type Undo } from '../../attach/undo.ts';
import * as link from '../../kernel/link.ts';
import * as sysctl from '../../kernel/sysctl.ts';
import { announce } from './announce.ts';
import { checkConflicts, checkGateways } from './checks.ts';
import type { Plan } from './plan.ts';
import { addPolicyRouting, fixDefaultRoutes } from './routes.ts';
import type { AttachmentState } from './state.ts';
import { type View, viewsOf, where } from './views.ts';

async function deriveMacs(
  pod: Pod,
  views: readonly View[],
  states: AttachmentState[],
  undo: Undo,
): Promise<void> {
  for (const v of views) {
    const mac = v.plan.mac;
    const old = v.link.mac;
    if (!mac || !old || mac === old) continue;
    await link.set(pod.rtnl, v.link.index, { mac }, where(v));
    undo.push(`restore the MAC of ${where(v)}`, () =>
      link.set(pod.rtnl, v.link.index, { mac: old }, where(v)),
    );
    (states[v.index] as AttachmentState).mac = old;
  }
}

/** The multi-homing sysctls of one interface: ARP answered and asked only for its own addresses; loose rp_filter and no RA default route where it does not own the default route. */
export function sysctlsFor(v: View, ipv6: boolean): Record<string, string> {
  const dev = v.plan.ifname;
  const keys: Record<string, string> = {
    [`net/ipv4/conf/${dev}/arp_ignore`]: '1',
    [`net/ipv4/conf/${dev}/arp_announce`]: '2',
  };
  if (!v.plan.owns[4]) keys[`net/ipv4/conf/${dev}/rp_filter`] = '2';
  if (!v.plan.owns[6] && ipv6) keys[`net/ipv6/conf/${dev}/accept_ra_defrtr`] = '0';
  return keys;
}

function applySysctls(pod: Pod, views: readonly View[], states: AttachmentState[], undo: Undo): void {
  for (const v of views) {
    if (!v.plan.options.sysctls) continue;
    const ipv6 = sysctl.get(pod.ns, `net/ipv6/conf/${v.plan.ifname}/accept_ra_defrtr`) !== undefined;
    const wanted = sysctlsFor(v, ipv6);
    const before: Record<string, string> = {};
    for (const key of Object.keys(wanted)) {
      const value = sysctl.get(pod.ns, key);
      if (value !== undefined) before[key] = value;
    }
    undo.push(`restore the sysctls of ${where(v)}`, () => sysctl.set(pod.ns, before));
    sysctl.set(pod.ns, wanted);
    (states[v.index] as AttachmentState).sysctls = before;
  }
}

/** Everything the plan asks for, in the pod; on failure every step is undone and the error thrown. */
export async function applyPlan(netns: string, containerId: string, plan: Plan): Promise<AttachmentState[]> {
  return withPod(netns, (pod) =>
    transaction(async (undo) => {
      const states: AttachmentState[] = plan.attachments.map(() => ({}));
      await deriveMacs(pod, await viewsOf(pod, plan), states, undo);
      const views = await viewsOf(pod, plan); // with the MACs as they are now
      applySysctls(pod, views, states, undo);
      await checkConflicts(pod, views);
      checkGateways(pod, views, containerId);
      await fixDefaultRoutes(pod, plan.defaultRoutes, views, undo);
      for (const v of views) {
        if (v.plan.options.policyRouting)
          await addPolicyRouting(pod, v, states[v.index] as AttachmentState, undo);
      }
      await announce(pod, views);
      return states;
    }),
  );
}
