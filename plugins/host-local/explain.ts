/**
 * host-local's dry run (`manifold explain`): the addresses ADD would reserve, found by the
 * very allocation code ADD runs (allocateAll), on a pretend store that reads the real one —
 * its reservations and `last_reserved_ip.<n>` — and writes nothing: no directory made, no lock
 * taken, no address reserved. Pretend reservations are shared across one dry run, so two
 * attachments of the same network get different addresses, as two ADDs would.
 */
import type { ExplainContext, Explainer, Forecast } from '../../src/cni/explain.ts';
import { formatIP, type IP, parseCIDR } from '../../src/ip/ip.ts';
import { type Allocator, allocateAll, type HostLocal, hostLocalResult, loadHostLocal } from './host-local.ts';
import { describeRange, rangeFor } from './ranges.ts';
import { readResolvConf } from './resolv.ts';
import { DEFAULT_DATA_DIR, type Reservation, Store } from './store.ts';

interface Pretend {
  /** IP → the attachment it was pretend-reserved for. */
  readonly taken: Map<string, { containerId: string; ifname: string }>;
  readonly last: Map<number, IP>;
}

/** Reads the real store, keeps its own reservations in memory. */
class PretendStore implements Allocator {
  readonly #real: Store;
  readonly #p: Pretend;

  constructor(real: Store, p: Pretend) {
    this.#real = real;
    this.#p = p;
  }

  reserve(containerId: string, ifname: string, ip: IP, rangeId: number): boolean {
    const name = formatIP(ip);
    if (this.#p.taken.has(name) || this.#real.isReserved(ip)) return false;
    this.#p.taken.set(name, { containerId: containerId.trim(), ifname });
    this.#p.last.set(rangeId, ip);
    return true;
  }

  release(r: Reservation): void {
    this.#p.taken.delete(r.ip);
  }

  lastReserved(rangeId: number): IP | undefined {
    return this.#p.last.get(rangeId) ?? this.#real.lastReserved(rangeId);
  }

  byAttachment(containerId: string, ifname: string): Reservation[] {
    const id = containerId.trim();
    const mine = [...this.#p.taken.entries()]
      .filter(([, a]) => a.containerId === id && a.ifname === ifname)
      .map(([ip, a]) => ({ ip, ...a }));
    return [...this.#real.byAttachment(containerId, ifname), ...mine];
  }
}

function pretendFor(ctx: ExplainContext, dir: string): Pretend {
  const key = `host-local:${dir}`;
  let p = ctx.dryRun.get(key) as Pretend | undefined;
  if (!p) {
    p = { taken: new Map(), last: new Map() };
    ctx.dryRun.set(key, p);
  }
  return p;
}

function sourceOf(hl: HostLocal, address: string, idx: number): string {
  const ip = parseCIDR(address)?.ip;
  const set = hl.sets[idx] ?? [];
  const r = ip ? rangeFor(set, ip) : undefined;
  const requested = ip && hl.requested.some((x) => formatIP(x) === formatIP(ip));
  const range = r ? `range ${describeRange(r)}` : 'its range';
  return `host-local ${requested ? 'requested address, in' : 'next free address of'} ${range} (range set ${idx})`;
}

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const hl = loadHostLocal(ctx.raw, ctx.cniArgs);
    const dataDir = hl.conf.ipam.dataDir ?? DEFAULT_DATA_DIR;
    const real = Store.view(hl.conf.name, dataDir);
    const before = real.list();
    const dns = hl.conf.ipam.resolvConf ? readResolvConf(hl.conf.ipam.resolvConf) : undefined;
    const store = new PretendStore(real, pretendFor(ctx, real.dir));
    const ips = allocateAll(hl, store, ctx.containerId, ctx.ifname);
    const last = hl.sets.map((_, i) => real.lastReserved(i));
    const notes = [
      `host-local store ${real.dir}: ${before.length} address(es) reserved now${last.some(Boolean) ? `, last reserved ${last.map((x) => (x ? formatIP(x) : '-')).join(', ')}` : ''}`,
    ];
    if (hl.conf.ipam.resolvConf) notes.push(`DNS from ${hl.conf.ipam.resolvConf}`);
    return {
      result: hostLocalResult(hl, ips, ctx.cniVersion, dns),
      notes,
      sources: ips.map((ip, i) => sourceOf(hl, ip.address, i)),
      complete: true,
    };
  },
};
