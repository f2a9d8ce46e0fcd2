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
import { log } from '../../util/log.ts';
import { announce } from './announce.ts';
import { checkConflicts, checkGateways } from './checks.ts';
import type { Plan } from './plan.ts';
import { Port } from './port.ts';
import { addPolicyRouting, fixDefaultRoutes } from './routes.ts';
import type { AttachmentState } from './state.ts';
import { type View, viewsOf, where } from './views.ts';

/** True when a MAC changed. */
async function deriveMacs(
  pod: Pod,
  views: readonly View[],
  states: AttachmentState[],
  undo: Undo,
): Promise<boolean> {
  let changed = false;
  for (const v of views) {
    const mac = v.plan.mac;
    const old = v.link.mac;
    if (!mac || !old || mac === old) continue;
    await link.set(pod.rtnl, v.link.index, { mac }, where(v));
    undo.push(`restore the MAC of ${where(v)}`, () =>
      link.set(pod.rtnl, v.link.index, { mac: old }, where(v)),
    );
    (states[v.index] as AttachmentState).mac = old;
    changed = true;
  }
  return changed;
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
  const laps: string[] = [];
  let t = performance.now();
  const lap = (step: string) => {
    const now = performance.now();
    laps.push(`${step} ${(now - t).toFixed(1)} ms`);
    t = now;
  };
  const states = await withPod(netns, async (pod) => {
    const port = new Port(pod);
    try {
      return await transaction(async (undo) => {
        const states: AttachmentState[] = plan.attachments.map(() => ({}));
        lap('open');
        let views = await viewsOf(pod, plan);
        if (await deriveMacs(pod, views, states, undo)) views = await viewsOf(pod, plan); // the new MACs
        lap('macFromIPv4');
        applySysctls(pod, views, states, undo);
        lap('sysctls');
        await checkConflicts(pod, port, views);
        lap('addressConflictCheck');
        await checkGateways(pod, port, views, containerId);
        lap('gatewayCheck');
        await fixDefaultRoutes(pod, plan.defaultRoutes, views, undo);
        lap('default routes');
        for (const v of views) {
          if (v.plan.options.policyRouting)
            await addPolicyRouting(pod, v, states[v.index] as AttachmentState, undo);
        }
        lap('policyRouting');
        await announce(pod, port, views);
        lap('announce');
        return states;
      });
    } finally {
      port.close();
      lap('close');
    }
  });
  log.verbose(`ADD ${containerId}: multi-homing steps: ${laps.join(', ')}`);
  return states;
}
