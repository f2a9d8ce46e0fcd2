/**
 * `manifold explain`'s text: the attachments in order with their interface names, where each
 * plugin runs, what it would do, the addresses and where they come from, the routes (and
 * which ones the merge leaves out), then the result ADD would print.
 */

import { q } from '../../cni/errors.ts';
import { isDecidedAtAdd } from '../../cni/explain.ts';
import { encodeResult, type Route } from '../../cni/result.ts';
import { familyOf } from '../../ip/ip.ts';
import { defaultRouteOwners, isDefaultRoute, keepsDefaultRoute } from '../../meta/multihome/owners.ts';
import type { AttachmentForecast, Explanation } from './explanation.ts';

function route(r: Route): string {
  const extra = [r.gw ? `via ${r.gw}` : 'on the interface (no gateway)'];
  if (r.mtu) extra.push(`mtu ${r.mtu}`);
  if (r.priority) extra.push(`metric ${r.priority}`);
  if (r.table) extra.push(`table ${r.table}`);
  return `${r.dst} ${extra.join(' ')}`;
}

function attachment(a: AttachmentForecast, i: number, owns: (r: Route) => boolean, meta: boolean): string[] {
  const role = meta && a.master ? " (master: the pod's main interface)" : '';
  const out = [
    `  ${i + 1}. ${a.ifname}${role}: network ${q(a.network)}, cniVersion ${a.cniVersion}${meta ? `, from ${a.source}` : ''}`,
  ];
  for (const p of a.plugins) {
    out.push(`     ${p.type}: ${p.runs}`);
    for (const n of p.notes) out.push(`       ${n}`);
  }
  const ips = a.result.ips ?? [];
  out.push(`     addresses:${ips.length ? '' : ' none'}`);
  ips.forEach((ip, k) => {
    const src = a.sources[k];
    out.push(`       ${ip.address}${ip.gateway ? ` gateway ${ip.gateway}` : ''}${src ? `  (${src})` : ''}`);
  });
  const routes = a.result.routes ?? [];
  out.push(`     routes:${routes.length ? '' : ' none'}`);
  for (const r of routes) {
    const dropped = meta && isDefaultRoute(r) && !owns(r);
    out.push(
      `       ${route(r)}${dropped ? "  (left out of the merged result: only the master's default route is kept)" : ''}`,
    );
  }
  const names = (a.result.interfaces ?? []).map(
    (f) => `${f.name}${f.sandbox ? ' (in the pod)' : isDecidedAtAdd(f.name) ? '' : ' (host)'}`,
  );
  out.push(`     interfaces: ${names.join(', ') || 'none'}`);
  if (!a.complete) out.push('     (part of this is decided by an executed plugin: known only at ADD)');
  return out;
}

export function renderExplanation(
  e: Explanation,
  req: { containerId: string; netns: string; ifname: string },
): string {
  const meta = e.type === 'manifold';
  const owners = defaultRouteOwners(e.attachments);
  const lines = [
    `network ${q(e.network)} (${e.type}, cniVersion ${e.cniVersion}) for container ${q(req.containerId)}, netns ${q(req.netns)}, CNI_IFNAME ${q(req.ifname)}`,
    ...e.notes.map((n) => `  ${n}`),
    ...e.warnings.map((w) => `  warning: ${w}`),
    meta
      ? `${e.attachments.length} attachment(s), made in this order (DEL removes them in reverse):`
      : 'one attachment:',
    '',
  ];
  e.attachments.forEach((a, i) => {
    const owns = (r: Route) => keepsDefaultRoute(owners, familyOf(r.dst) ?? 4, i);
    lines.push(...attachment(a, i, owns, meta), '');
  });
  lines.push(
    `the result ADD would print (cniVersion ${e.cniVersion}; names in <…> are chosen at ADD, MACs by the kernel):`,
    JSON.stringify(encodeResult(e.result, e.cniVersion), null, 2),
    '',
    e.complete
      ? 'a dry run: nothing was created and no address was reserved.'
      : 'a dry run: nothing was created and no address was reserved; parts marked above are known only at ADD.',
    '',
  );
  return lines.join('\n');
}
