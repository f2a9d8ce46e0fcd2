/**
 * What `manifold validate` warns about although it is legal: risks that show only when
 * networks meet each other or the node.
 *   - vxlan without an explicit `port` (manifold's default 4789 is not Linux's 8472, which
 *     flannel and many hand-made peers use);
 *   - macvlan and ipvlan on the same master (the kernel refuses the second kind: EBUSY);
 *   - an MTU above the master's, on this node (ADD fails; vxlan counts its 50/70-byte header,
 *     tunnel its mode's outer headers);
 *   - host-local ranges of different stores that overlap (two allocators hand out the same
 *     addresses: duplicate IPs).
 */

import { q } from '../../cni/errors.ts';
import { addToIP, compareIP, type IP, lastOf, networkOf, parseCIDR, parseIP } from '../../ip/ip.ts';
import { TUNNEL_KINDS, type TunnelKind, tunnelOverhead } from '../../kernel/tunnels.ts';
import { type Finding, joinPath, type PluginView } from './findings.ts';
import type { NodeView } from './node.ts';

type Obj = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined);
const label = (v: PluginView) => `network ${q(v.network)} (${v.where}${v.path ? ` ${v.path}` : ''})`;

function warn(v: PluginView, path: string, message: string): Finding {
  return { level: 'warning', where: v.where, path: joinPath(v.path, path), message };
}

function vxlanPorts(views: readonly PluginView[]): Finding[] {
  return views
    .filter((v) => v.type === 'vxlan' && v.raw.port === undefined)
    .map((v) =>
      warn(
        v,
        'port',
        'not set: manifold uses 4789 (IANA), but Linux defaults to 8472 (as flannel does): peers that take their default do not hear each other; set "port" explicitly',
      ),
    );
}

/** The master a slave or tunnel uses on the host ('' for the default-route interface); undefined: in the pod. */
function masterOf(v: PluginView): string | undefined {
  if (v.raw.linkInContainer === true) return undefined;
  return str(v.raw.master) ?? '';
}

function sharedMasters(views: readonly PluginView[]): Finding[] {
  const by = new Map<string, PluginView[]>();
  for (const v of views) {
    if (v.type !== 'macvlan' && v.type !== 'ipvlan') continue;
    const m = masterOf(v);
    if (m === undefined) continue;
    by.set(m, [...(by.get(m) ?? []), v]);
  }
  const out: Finding[] = [];
  for (const [master, vs] of by) {
    const mac = vs.filter((v) => v.type === 'macvlan');
    const ipv = vs.filter((v) => v.type === 'ipvlan');
    if (mac.length === 0 || ipv.length === 0) continue;
    const name = master ? `master ${q(master)}` : 'the default-route interface (no master)';
    for (const v of ipv) {
      out.push(
        warn(
          v,
          'master',
          `${name} also carries macvlan: ${mac.map(label).join(', ')}; the kernel takes macvlan or ipvlan on one master, not both (the second ADD fails with EBUSY)`,
        ),
      );
    }
  }
  return out;
}

function underlayFamily(raw: Obj): 4 | 6 {
  const first =
    str(raw.local) ?? str(raw.group) ?? (Array.isArray(raw.remotes) ? str(raw.remotes[0]) : undefined);
  return (first && parseIP(first)?.family) === 6 ? 6 : 4;
}

/** A tunnel config's outer header bytes (the kernel layer's table), undefined for an unknown mode. */
function tunnelOverheadOf(raw: Obj): number | undefined {
  const mode = str(raw.mode);
  if (!mode || !(TUNNEL_KINDS as readonly string[]).includes(mode)) return undefined;
  const okey = typeof raw.key === 'number' ? raw.key : typeof raw.okey === 'number' ? raw.okey : undefined;
  return tunnelOverhead({
    kind: mode as TunnelKind,
    okey,
    encapLimit: raw.encapLimit === 'none' ? 'none' : undefined,
    remote: str(raw.remote) ?? '',
  });
}

function mtus(views: readonly PluginView[], node: NodeView | undefined): Finding[] {
  if (!node) return [];
  const out: Finding[] = [];
  for (const v of views) {
    if (v.type !== 'macvlan' && v.type !== 'ipvlan' && v.type !== 'vxlan' && v.type !== 'tunnel') continue;
    const mtu = num(v.raw.mtu);
    const m = masterOf(v);
    const master = m === '' ? node.defaultInterface : m;
    const have = master === undefined ? undefined : node.mtu(master);
    if (mtu === undefined || master === undefined || have === undefined) continue;
    const overhead =
      v.type === 'vxlan'
        ? underlayFamily(v.raw) === 6
          ? 70
          : 50
        : v.type === 'tunnel'
          ? tunnelOverheadOf(v.raw)
          : 0;
    if (overhead === undefined) continue;
    if (mtu > have - overhead) {
      const what = overhead
        ? `${have - overhead}, the most a ${v.type === 'tunnel' ? `tunnel in mode ${String(v.raw.mode)}` : 'vxlan'} over`
        : 'the MTU of';
      out.push(
        warn(
          v,
          'mtu',
          `${mtu} is above ${what} master ${q(master)} on this node (MTU ${have}): ADD will fail here`,
        ),
      );
    }
  }
  return out;
}

interface Span {
  readonly start: IP;
  readonly end: IP;
  readonly text: string;
}

function span(r: Obj): Span | undefined {
  const subnet = parseCIDR(String(r.subnet ?? ''));
  if (!subnet) return undefined;
  const net = networkOf(subnet);
  const start = parseIP(String(r.rangeStart ?? '')) ?? addToIP(net.ip, 1n);
  const last = lastOf(subnet);
  const end = parseIP(String(r.rangeEnd ?? '')) ?? (subnet.ip.family === 4 ? addToIP(last, -1n) : last);
  return {
    start,
    end,
    text: `${String(r.subnet)}${r.rangeStart || r.rangeEnd ? ` (${String(r.rangeStart ?? '')}-${String(r.rangeEnd ?? '')})` : ''}`,
  };
}

function hostLocalSpans(raw: Obj): Span[] {
  const ipam = raw.ipam as Obj | undefined;
  if (ipam?.type !== 'host-local') return [];
  const ranges: Obj[] = ipam.subnet ? [ipam] : [];
  if (Array.isArray(ipam.ranges)) {
    for (const set of ipam.ranges) {
      if (Array.isArray(set)) ranges.push(...set.filter((r): r is Obj => !!r && typeof r === 'object'));
    }
  }
  return ranges.map(span).filter((s): s is Span => s !== undefined);
}

const overlaps = (a: Span, b: Span) =>
  a.start.family === b.start.family && compareIP(a.start, b.end) <= 0 && compareIP(b.start, a.end) <= 0;

function rangeOverlaps(views: readonly PluginView[]): Finding[] {
  const stores = views
    .map((v) => {
      const ipam = v.raw.ipam as Obj | undefined;
      const dataDir = str(ipam?.dataDir) ?? '/var/lib/cni/networks';
      return { v, store: `${dataDir}/${v.network}`, spans: hostLocalSpans(v.raw) };
    })
    .filter((s) => s.spans.length > 0);
  const out: Finding[] = [];
  for (let j = 0; j < stores.length; j++) {
    const b = stores[j];
    if (!b) continue;
    for (let i = 0; i < j; i++) {
      const a = stores[i];
      if (!a || a.store === b.store) continue;
      const hit = b.spans.flatMap((y) =>
        a.spans.filter((x) => overlaps(x, y)).map((x) => [x, y] as const),
      )[0];
      if (!hit) continue;
      out.push(
        warn(
          b.v,
          'ipam',
          `host-local range ${hit[1].text} overlaps ${hit[0].text} of ${label(a.v)}, kept in another store (${b.store} vs ${a.store}): both may hand out the same address`,
        ),
      );
    }
  }
  return out;
}

export function risks(views: readonly PluginView[], node: NodeView | undefined): Finding[] {
  return [...vxlanPorts(views), ...sharedMasters(views), ...mtus(views, node), ...rangeOverlaps(views)];
}
