/**
 * The meta-plugin's GC, for one manifold network (the spec's valid list is per network, and
 * libcni filters its cache by network name): DEL of this network's cached attachments that
 * the runtime no longer lists, then each delegate network's own GC with the attachments that
 * stay. Caches of other networks are never touched, but their delegates' attachments count
 * as staying (two manifold networks may share a delegate network); a cache that cannot be
 * read is skipped. Every step is attempted and every failure reported, as libcni does.
 */
import { Attempts, combineFailures } from '../cni/attempts.ts';
import { CniError, describeError } from '../cni/errors.ts';
import type { GcContext, ValidAttachment } from '../cni/plugin.ts';
import { gcNetwork } from '../invoke/network.ts';
import { log } from '../util/log.ts';
import { type Attached, fromCache, runtimeFor, wrap } from './attachment.ts';
import { type CacheFile, listCaches, removeCache, removeStaleTemps } from './cache.ts';
import type { MetaConf } from './config.ts';
import { delegatesEach, ifnameOf } from './delegates.ts';
import { isNested } from './guard.ts';
import { deleteAll } from './teardown.ts';

const key = (containerId: string, ifname: string) => `${containerId}\n${ifname}`;

/** Attachments of each delegate network that stay. */
class Live {
  readonly #by = new Map<string, ValidAttachment[]>();

  keep(network: string, containerID: string, ifname: string): void {
    const list = this.#by.get(network) ?? [];
    if (!list.some((a) => a.containerID === containerID && a.ifname === ifname))
      list.push({ containerID, ifname });
    this.#by.set(network, list);
  }

  keepCache(c: CacheFile): void {
    for (const e of c.delegates) {
      if (typeof e.network.name === 'string') this.keep(e.network.name, c.containerId, e.ifname);
    }
  }

  of(network: string): ValidAttachment[] {
    return this.#by.get(network) ?? [];
  }
}

export async function gc(ctx: GcContext<MetaConf>): Promise<void> {
  const cniDir = ctx.conf.cniDirOrDefault;
  const network = ctx.conf.name;
  const valid = new Set(ctx.validAttachments.map((a) => key(a.containerID, a.ifname)));
  const live = new Live();
  const covered = new Set<string>();
  const steps = new Attempts();

  const listed = listCaches(cniDir);
  for (const u of listed.unreadable) log.error(`GC: skipping ${u.file}: ${u.reason}`);
  for (const { cache, file } of listed.caches) {
    const mine = cache.networkName === network;
    if (!mine || valid.has(key(cache.containerId, cache.ifname))) {
      if (mine) covered.add(key(cache.containerId, cache.ifname));
      live.keepCache(cache); // another network's (or a legacy) cache is never touched
      continue;
    }
    let attached: Attached[];
    try {
      attached = fromCache(cache);
    } catch (err) {
      log.error(`GC: skipping ${file}: ${describeError(err)}`);
      continue;
    }
    await steps.run(async () => {
      const t = await deleteAll(ctx, attached, cache.netns, cache.containerId);
      if (t.transient.length > 0) {
        const e = combineFailures(t.transient, attached.length, 'delegates failed DEL');
        throw new CniError(e.code, `stale attachment ${cache.containerId}/${cache.ifname}: ${e.message}`);
      }
      removeCache(file);
    });
  }

  const delegates = delegatesEach(ctx.conf);
  // a valid attachment without a readable cache: its delegates are taken to be as the config says
  for (const a of ctx.validAttachments) {
    if (covered.has(key(a.containerID, a.ifname))) continue;
    delegates.forEach((d, i) => {
      if (!(d instanceof CniError)) live.keep(d.network.name, a.containerID, ifnameOf(d, i, a.ifname));
    });
  }
  for (const d of delegates) {
    if (d instanceof CniError) {
      steps.fail(d);
      continue;
    }
    if (isNested(d)) {
      log.error(`GC: ${d.source}: a nested manifold delegate is never run`);
      continue;
    }
    await steps.run(async () => {
      const rt = runtimeFor(ctx, { delegate: d, ifname: '', result: undefined }, '', '');
      await gcNetwork(ctx.invoker, d.network, rt, live.of(d.network.name)).catch((err: unknown) => {
        throw wrap(d, 'GC', err);
      });
    });
  }
  removeStaleTemps(cniDir);
  steps.throwIfFailed('GC steps failed');
}
