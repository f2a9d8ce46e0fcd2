/**
 * The meta-plugin's DEL. What to delete comes from this attachment's cache (so DEL works
 * after the config changed or a NAD was deleted); when it cannot be read (corrupt, truncated,
 * written by a newer version), from a Kubernetes pod's networks re-read as ADD made them (so
 * their addresses are released), else — and when none was written — from the config, each
 * delegate resolved on its own. Every delegate is deleted in reverse (teardown.ts): transient
 * failures are reported, all of them, and the cache stays for the next DEL; permanent ones
 * are logged and worked around. The cache, readable or not, goes once nothing is left to
 * retry. One pass, no loop: the runtime's retry is the retry.
 */
import { combineFailures } from '../cni/attempts.ts';
import type { CniError } from '../cni/errors.ts';
import { log } from '../util/log.ts';
import { type Attached, type Ctx, fromCache } from './attachment.ts';
import { cachePath, type Loaded, readCache, removeCache } from './cache.ts';
import { assignIfnames, delegatesEach, ifnameOf } from './delegates.ts';
import { podDelegatesForDel, releaseClaimDevices } from './kubernetes.ts';
import { deleteAll } from './teardown.ts';

/** The attachments as the config says, each delegate resolved on its own; the ones that do not resolve apart. */
export function fromConfig(ctx: Ctx): { attached: Attached[]; problems: CniError[] } {
  const attached: Attached[] = [];
  const problems: CniError[] = [];
  delegatesEach(ctx.conf).forEach((d, i) => {
    if (d instanceof Error) problems.push(d);
    else attached.push({ delegate: d, ifname: ifnameOf(d, i, ctx.ifname), result: undefined });
  });
  return { attached, problems };
}

/**
 * A Kubernetes pod's attachments re-read (its annotations and NADs) when its cache cannot be
 * read, so their addresses are released too (as Multus); undefined when they cannot be known.
 * A missing cache needs none of this: it is written before any delegate runs, so there is
 * nothing of the pod's own to release (or a DEL already did).
 */
async function fromPod(ctx: Ctx): Promise<Attached[] | undefined> {
  const delegates = await podDelegatesForDel(ctx);
  if (!delegates) return undefined;
  const ifnames = assignIfnames(delegates, ctx.ifname);
  return delegates.map((delegate, i) => ({ delegate, ifname: ifnames[i] as string, result: undefined }));
}

/** The attachments to delete and where they came from. */
async function plan(
  ctx: Ctx,
  loaded: Loaded,
): Promise<{ attached: Attached[]; problems: CniError[]; from: string }> {
  if (loaded.state === 'ok') {
    try {
      return { attached: fromCache(loaded.cache), problems: [], from: `the cache ${loaded.file}` };
    } catch (err) {
      log.error(
        `DEL ${ctx.containerId}: cannot use ${loaded.file}: ${(err as Error).message}; deleting from the pod's networks or the config`,
      );
    }
  } else if (loaded.state === 'unreadable') {
    log.error(
      `DEL ${ctx.containerId}: cannot read ${loaded.file}: ${loaded.reason}; deleting from the pod's networks or the config`,
    );
  }
  if (loaded.state !== 'missing') {
    const attached = await fromPod(ctx);
    if (attached) return { attached, problems: [], from: "the pod's networks, re-read (unreadable cache)" };
  }
  return { ...fromConfig(ctx), from: loaded.state === 'missing' ? 'the config (no cache)' : 'the config' };
}

export async function del(ctx: Ctx): Promise<void> {
  const key = { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname };
  const loaded = readCache(ctx.conf.cniDirOrDefault, key);
  const { attached, problems, from } = await plan(ctx, loaded);
  for (const p of problems)
    log.error(`DEL ${ctx.containerId}: ${p.message} (a delegate that does not resolve: skipped)`);
  const t = await deleteAll(ctx, attached, ctx.netns, ctx.containerId);
  if (t.transient.length > 0) throw combineFailures(t.transient, attached.length, 'delegates failed DEL');
  await releaseClaimDevices(ctx, attached);
  // also when there is none: a write killed before its rename leaves only its temp file
  removeCache(loaded.state === 'missing' ? cachePath(ctx.conf.cniDirOrDefault, key) : loaded.file);
  log.info(`DEL ${ctx.containerId}: ${attached.length} delegate(s) deleted, from ${from}`);
}
