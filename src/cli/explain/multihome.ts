/**
 * The multi-homing part of `manifold explain` (docs/multihoming.md): the very plan ADD makes
 * after the delegates (planFor: default routes only on their owners, MACs from IPv4
 * addresses) applied to the forecast results, and what ADD would then do in the pod, told per
 * attachment. With every option off and the default routes already right, nothing changes.
 */
import type { MetaConf } from '../../meta/config.ts';
import type { Delegate } from '../../meta/delegates.ts';
import { isDefaultRoute } from '../../meta/multihome/owners.ts';
import { planFor } from '../../meta/multihome/plan.ts';
import type { AttachmentForecast } from './explanation.ts';

type Planned = ReturnType<typeof planFor>;

function told(plan: Planned, i: number): string[] {
  const p = plan.attachments[i];
  if (!p) return [];
  const o = p.options;
  const out: string[] = [];
  for (const f of plan.defaultRoutes) {
    const mine = p.ownDefaults.filter((r) => isDefaultRoute(r, f)).map((r) => r.dst);
    const owner = plan.attachments.find((x) => x.owns[f])?.ifname;
    if (p.owns[f]) out.push(`keeps the pod's IPv${f} default route (the only one in the kernel)`);
    else if (mine.length > 0)
      out.push(
        `its default route ${mine.join(', ')} is removed from the pod: ${owner ?? 'another interface'} owns the IPv${f} default route`,
      );
  }
  if (o.policyRouting)
    out.push('policyRouting: a routing table of its own and "from <address>" rules for its addresses');
  if (o.announce) out.push('announce: gratuitous ARP / unsolicited NA for its addresses, last');
  if (o.addressConflictCheck)
    out.push('addressConflictCheck: ARP probes / DAD for its addresses (a conflict fails ADD)');
  if (o.gatewayCheck !== 'off') out.push(`gatewayCheck ${o.gatewayCheck}: its gateways must answer ARP/NDP`);
  if (o.sysctls) out.push('multihomeSysctls: arp_ignore, arp_announce, rp_filter, accept_ra_defrtr set');
  if (p.mac) out.push(`macFromIPv4: MAC ${p.mac}`);
  return out;
}

export function withMultihoming(
  conf: MetaConf,
  delegates: readonly Delegate[],
  plans: readonly AttachmentForecast[],
): { plans: AttachmentForecast[]; notes: string[] } {
  const plan = planFor(
    conf,
    plans.map((a, i) => ({ delegate: delegates[i] as Delegate, ifname: a.ifname, result: a.result })),
  );
  if (!plan.work) return { plans: [...plans], notes: [] };
  const notes = plan.defaultRoutes.length
    ? [
        `multi-homing: the pod's default routes (${plan.defaultRoutes.map((f) => `IPv${f}`).join(', ')}) are put right in the kernel: only their owner keeps one`,
      ]
    : [];
  return {
    plans: plans.map((a, i) => {
      const p = plan.attachments[i];
      if (!p) return a;
      const lines = told(plan, i);
      return {
        ...a,
        result: p.result ?? a.result,
        plugins: lines.length
          ? [
              ...a.plugins,
              { type: 'multi-homing', runs: 'in-process (manifold, after the delegates)', notes: lines },
            ]
          : a.plugins,
      };
    }),
    notes,
  };
}
