/**
 * The meta-plugin's ADD: resolve the delegates → their interface names → write the cache →
 * run the delegates in order (built-ins in-process, others executed) → merge their results
 * into one. The cache gets each delegate's result (right after an executed delegate, at the
 * end for built-ins, whose DEL does not read it); if one fails, what
 * was added is deleted again in reverse and the cache goes with it (kept only when part of
 * that rollback failed in a way a later DEL can still finish).
 */
import { withPod } from '../attach/pod.ts';
import { CniError, Code, describeError, q } from '../cni/errors.ts';
import type { Result } from '../cni/result.ts';
import { addNetwork } from '../invoke/network.ts';
import * as link from '../kernel/link.ts';
import { log } from '../util/log.ts';
import { type Attached, type Ctx, describe, runtimeFor, toCache, wrap } from './attachment.ts';
import { cachePath, removeCache, writeCache } from './cache.ts';
import { DEFAULT_READINESS_TIMEOUT_S } from './config.ts';
import { assignIfnames, type Delegate, delegatesFromConfig } from './delegates.ts';
import { prepareDeviceInfo } from './device-info.ts';
import { guard } from './guard.ts';
import { podNetworks } from './kubernetes.ts';
import { mergeResults } from './merge.ts';
import { multihomeAdd } from './multihome/hooks.ts';
import { waitForFile } from './readiness.ts';
import { deleteAll } from './teardown.ts';

/** ADD's one kernel read: the names of the links in the pod (`ctx.podLinks` stands in for it in unit tests). */
export async function kernelPodLinks(netns: string): Promise<string[]> {
  return withPod(netns, async (pod) => (await link.list(pod.rtnl)).map((l) => l.name));
}

async function assertFree(
  ctx: Ctx,
  delegates: readonly Delegate[],
  ifnames: readonly string[],
): Promise<void> {
  const existing = new Set(await (ctx.podLinks ?? kernelPodLinks)(ctx.netns));
  const taken = ifnames.find((n) => existing.has(n));
  if (taken === undefined) return;
  const d = delegates[ifnames.indexOf(taken)] as Delegate;
  throw new CniError(
    Code.Internal,
    `${describe(d)}: interface ${q(taken)} already exists in netns ${q(ctx.netns)}`,
  );
}

/**
 * Deletes delegates 0…k again after delegate k failed; the cache goes, unless part of that
 * failed in a way a later DEL can still finish (then it records k's ADD error for that DEL).
 */
async function rollback(ctx: Ctx, attached: readonly Attached[], cause: CniError): Promise<void> {
  log.error(`ADD ${ctx.containerId}: ${cause.message}; rolling back ${attached.length} delegate(s)`);
  const t = await deleteAll(ctx, attached, ctx.netns, ctx.containerId);
  const key = { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname };
  if (t.transient.length === 0) {
    removeCache(cachePath(ctx.conf.cniDirOrDefault, key));
    return;
  }
  for (const e of t.transient) log.error(`rollback: ${e.message} (the cache stays for DEL)`);
  writeCache(ctx.conf.cniDirOrDefault, toCache(ctx, attached));
}

/**
 * Whether every plugin of the delegate runs in-process. Such a delegate's DEL works from its
 * config, the container id and the interface name alone (none reads prevResult), so its
 * result goes into the cache with the others' at the end of ADD; a delegate with an executed
 * plugin has its result written right away, for its DEL's prevResult after a crash. (After a
 * crash mid-ADD the runtime has no result either: it only ever calls DEL.)
 */
function builtinOnly(ctx: Ctx, d: Delegate): boolean {
  if (d.exec) return false; // `manifold.exec`: every plugin is executed
  return d.network.plugins.every((p) => ctx.invoker.inProcess(String(p.type)));
}

export async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  if (conf.readinessindicatorfile) {
    await waitForFile(
      conf.readinessindicatorfile,
      conf.readinessTimeoutSeconds ?? DEFAULT_READINESS_TIMEOUT_S,
    );
  }
  const pod = await podNetworks(ctx);
  if (pod?.gone) return pod.gone;
  const delegates = pod?.delegates ?? delegatesFromConfig(conf);
  guard(conf, delegates);
  const ifnames = assignIfnames(delegates, ctx.ifname);
  await assertFree(ctx, delegates, ifnames);
  const attached: Attached[] = delegates.map((delegate, i) => ({
    delegate,
    ifname: ifnames[i] as string,
    result: undefined,
  }));
  const cniDir = conf.cniDirOrDefault;
  writeCache(cniDir, toCache(ctx, attached));
  let saved = true;
  for (let k = 0; k < attached.length; k++) {
    const a = attached[k] as Attached;
    const started = process.hrtime.bigint(); // not performance.now(): its first use loads perf_hooks (~1 ms)
    try {
      if (a.delegate.k8s) prepareDeviceInfo(a.delegate.k8s);
      a.result = await addNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a));
    } catch (err) {
      const cause = wrap(a.delegate, '', err);
      a.addError = err instanceof Error ? err.message : String(err);
      await rollback(ctx, attached.slice(0, k + 1), cause);
      await pod?.failed(cause);
      throw cause;
    }
    const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
    log.info(`ADD ${ctx.containerId}: ${describe(a.delegate)} attached as ${a.ifname} in ${ms} ms`, {
      delegate: `${a.delegate.network.name} (${a.delegate.network.plugins.map((p) => String(p.type)).join(', ')})`,
      ifname: a.ifname,
      ms,
    });
    saved = !builtinOnly(ctx, a.delegate);
    if (saved) writeCache(cniDir, toCache(ctx, attached));
  }
  if (!saved) writeCache(cniDir, toCache(ctx, attached));
  try {
    if (await multihomeAdd(ctx, attached)) writeCache(cniDir, toCache(ctx, attached));
  } catch (err) {
    const cause = err instanceof CniError ? err : new CniError(Code.Internal, describeError(err));
    await rollback(ctx, attached, cause);
    throw cause;
  }
  const merged = mergeResults(
    attached.map((a) => ({
      result: a.result as Result,
      master: a.delegate.master,
      defaultRoute: a.delegate.defaultRoute,
    })),
    ctx.cniVersion,
  );
  if (pod) {
    try {
      await pod.publish(attached);
    } catch (err) {
      // network-status could not be written: the pod must not run without it (as Multus), undo
      const cause = err instanceof CniError ? err : new CniError(Code.Internal, describeError(err));
      await rollback(ctx, attached, cause);
      throw cause;
    }
  }
  return merged;
}
