/** The attachments of a plan next to their pod interfaces as the kernel has them. */
import type { Pod } from '../../attach/pod.ts';
import { q } from '../../cni/errors.ts';
import type { Family } from '../../ip/ip.ts';
import { familyOf } from '../../ip/ip.ts';
import * as link from '../../kernel/link.ts';
import { IFF_NOARP } from '../../kernel/nl/constants.ts';
import { log } from '../../util/log.ts';
import type { AttachmentPlan, Plan } from './plan.ts';

export interface View {
  /** Position in the delegate list. */
  readonly index: number;
  readonly plan: AttachmentPlan;
  readonly link: link.Link;
}

/** Each attachment whose interface is in the pod (one whose delegate named it otherwise is logged). */
export async function viewsOf(pod: Pod, plan: Plan): Promise<View[]> {
  const links = new Map((await link.list(pod.rtnl)).map((l) => [l.name, l]));
  const out: View[] = [];
  plan.attachments.forEach((p, index) => {
    const l = links.get(p.ifname);
    if (l) out.push({ index, plan: p, link: l });
    else if (p.result) log.info(`multi-homing: no interface ${q(p.ifname)} in ${pod.path}: skipped`);
  });
  return out;
}

/** Host addresses (no prefix) of one family on the view's interface. */
export function addresses(v: View, family: Family): string[] {
  return v.plan.ips
    .filter((ip) => familyOf(ip.address) === family)
    .map((ip) => ip.address.slice(0, ip.address.indexOf('/')));
}

/** ARP and NDP are meaningless on the interface (ipvlan L3, point-to-point devices). */
export function noArp(v: View): boolean {
  return (v.link.flags & IFF_NOARP) !== 0;
}

export function where(v: View): string {
  return `interface ${q(v.plan.ifname)}`;
}
