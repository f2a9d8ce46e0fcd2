/**
 * What hot-plug does to one pod (docs/hotplug.md), with the meta-plugin's own pieces: the
 * pod's attachment cache (src/meta/cache.ts) says what it has, its networks annotation what
 * it wants; the difference is attached (a NAD-backed delegate built by nadDelegate, run by
 * addNetwork with the runtime view every delegate gets) and detached (teardown's deleteAll),
 * each change written to the same cache first, so the runtime's DEL — which waits behind
 * this work for the container's turn (Daemon.runTask) — removes everything either made.
 * Then the pod's network-status is written again and the events recorded. A failed attach
 * is rolled back (hotplug-attach.ts); the other attachments are never touched. Kept here, at the command, so
 * src/daemon knows nothing of the meta-plugin's files (as gc-candidates.ts).
 */
import { existsSync } from 'node:fs';
import { CniError, Code, describeError, q } from '../../cni/errors.ts';
import type { JsonObject } from '../../cni/host.ts';
import type { Invoker } from '../../cni/plugin.ts';
import type { ReconcileOutcome } from '../../daemon/hotplug.ts';
import type { KubeWatches } from '../../daemon/kube.ts';
import { isMirrorPod, uidOf } from '../../daemon/kube.ts';
import { asPod } from '../../k8s/api.ts';
import { Budget, KubeClient, type SharedConnection } from '../../k8s/client.ts';
import { type Attached, type Ctx, fromCache, toCache } from '../../meta/attachment.ts';
import { type CacheFile, readCache, readCaches, writeCache } from '../../meta/cache.ts';
import { DEFAULT_KUBE_API_TIMEOUT_S, parseMetaConf } from '../../meta/config.ts';
import { delegatesFromConfig } from '../../meta/delegates.ts';
import type { PodIdentity } from '../../meta/pod-call.ts';
import {
  NETWORKS_ANNOTATION,
  type NetworkSelection,
  parseNetworksAnnotation,
} from '../../meta/pods/annotation.ts';
import { addedInterfaceMessage, PodEvents } from '../../meta/pods/events.ts';
import { isSystemNamespace } from '../../meta/pods/isolation.ts';
import { publishStatus } from '../../meta/pods/pod-status.ts';
import { parseCniArgs } from '../../skel/env.ts';
import { inCall } from '../../util/call.ts';
import { attachOne, deleteOne, selName } from './hotplug-attach.ts';

export interface HotplugDeps {
  readonly cniDir: string;
  readonly kube: KubeWatches;
  readonly invoker: () => Invoker;
  /** The variables delegates get beyond CNI_* (the daemon's PATH, as its calls get it). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs `fn` in the container's turn (Daemon.runTask); undefined: not run. */
  readonly inTurn: <T>(
    containerId: string,
    fn: () => Promise<T>,
  ) => Promise<{ readonly value: T } | undefined>;
  readonly log: (line: string) => void;
}

type Found = { readonly cache: CacheFile; readonly file: string; readonly writtenMs: number };

const NOTHING: ReconcileOutcome = { attached: 0, detached: 0, failures: [] };

const obj = (v: unknown): JsonObject =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {};

function annotationOf(o: JsonObject): string {
  const v = obj(obj(o.metadata).annotations)[NETWORKS_ANNOTATION];
  return typeof v === 'string' ? v : '';
}

/** The pods whose attachments the caches record (for the reconcile after a start). */
export async function knownPods(cniDir: string): Promise<{ namespace: string; name: string }[]> {
  const seen = new Map<string, { namespace: string; name: string }>();
  for (const { cache } of await readCaches(cniDir)) {
    if (cache.pod && cache.call) seen.set(`${cache.pod.namespace}/${cache.pod.name}`, cache.pod);
  }
  return [...seen.values()];
}

/** The pod's attachment cache: the newest of this pod (its uid) whose netns still exists. */
async function findCache(
  cniDir: string,
  o: JsonObject,
  ns: string,
  name: string,
): Promise<Found | undefined> {
  const mine = (await readCaches(cniDir)).filter(
    ({ cache }) =>
      cache.pod?.namespace === ns &&
      cache.pod.name === name &&
      cache.call !== undefined &&
      (!cache.pod.uid || cache.pod.uid === uidOf(o) || isMirrorPod(o)) &&
      cache.netns !== '' &&
      existsSync(cache.netns),
  );
  return mine.sort((a, b) => b.writtenMs - a.writtenMs)[0];
}

/** The CNI_ARGS a runtime gives this pod's calls, from its cache. */
function podArgs(c: CacheFile): string {
  const pod = c.pod as NonNullable<CacheFile['pod']>;
  return [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${pod.namespace}`,
    `K8S_POD_NAME=${pod.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${c.containerId}`,
    ...(pod.uid ? [`K8S_POD_UID=${pod.uid}`] : []),
  ].join(';');
}

/** The meta-plugin's context of the ADD that made the attachment, rebuilt from its cache. */
function contextOf(deps: HotplugDeps, c: CacheFile): Ctx {
  const call = c.call as NonNullable<CacheFile['call']>;
  const args = podArgs(c);
  const cniArgs = parseCniArgs(args);
  const raw = { ...call.conf } as Record<string, unknown>;
  const env: Record<string, string> = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: c.containerId,
    CNI_NETNS: c.netns,
    CNI_IFNAME: c.ifname,
    CNI_ARGS: args,
    CNI_PATH: call.path,
    ...deps.env,
  };
  return {
    command: 'ADD',
    containerId: c.containerId,
    netns: c.netns,
    ifname: c.ifname,
    cniArgs,
    path: call.path.split(':').filter(Boolean),
    env,
    conf: parseMetaConf(raw),
    raw,
    cniVersion: c.cniVersion,
    invoker: deps.invoker(),
    host: { kube: deps.kube },
  };
}

/** How many of the cached delegates ADD made before the annotation's (master, defaultNetworks): never hot-plugged. */
function baseCount(ctx: Ctx, podNs: string): number {
  const conf = ctx.conf;
  if (!conf.clusterNetwork) return delegatesFromConfig(conf).length;
  return 1 + (isSystemNamespace(conf, podNs) ? 0 : (conf.defaultNetworks ?? []).length);
}

const statusNameOf = (a: Attached): string => a.delegate.k8s?.statusName ?? a.delegate.network.name;

/** Pairs the annotation's elements with the attachments there are: what to attach, what to detach. */
export function diff(
  have: readonly Attached[],
  want: readonly NetworkSelection[],
): { attach: NetworkSelection[]; detach: Attached[] } {
  const used = new Set<number>();
  const matched = new Set<number>();
  const pass = (explicit: boolean) =>
    want.forEach((s, wi) => {
      if (matched.has(wi) || (s.interface !== undefined) !== explicit) return;
      const hi = have.findIndex(
        (a, i) => !used.has(i) && statusNameOf(a) === selName(s) && (!explicit || a.ifname === s.interface),
      );
      if (hi >= 0) {
        used.add(hi);
        matched.add(wi);
      }
    });
  pass(true);
  pass(false);
  return {
    attach: want.filter((_, i) => !matched.has(i)),
    detach: have.filter((_, i) => !used.has(i)),
  };
}

const isTransient = (err: unknown): boolean =>
  err instanceof CniError ? err.code === Code.TryAgainLater || err.code === Code.IOFailure : false;

/** Reconciles one pod: its attachments made to match its networks annotation. */
export async function reconcilePod(deps: HotplugDeps, ns: string, name: string): Promise<ReconcileOutcome> {
  const o = deps.kube.pods.get(ns, name);
  if (!o || obj(o.metadata).deletionTimestamp !== undefined) return NOTHING;
  const found = await findCache(deps.cniDir, o, ns, name);
  if (!found) return { ...NOTHING, acted: annotationOf(o) };
  const turn = await deps.inTurn(found.cache.containerId, () =>
    inCall(async (): Promise<ReconcileOutcome> => {
      try {
        return await underTurn(deps, ns, name, found);
      } catch (err) {
        // what no single attachment caused (a cache whose config no longer parses, a write that failed)
        const message = `hot-plug of pod ${ns}/${name}: ${describeError(err)}`;
        return { ...NOTHING, failures: [{ transient: isTransient(err), message }] };
      }
    }),
  );
  if (!turn) {
    return {
      ...NOTHING,
      failures: [
        { transient: true, message: 'the daemon gave no turn for the container (busy or draining)' },
      ],
    };
  }
  return turn.value;
}

async function underTurn(
  deps: HotplugDeps,
  ns: string,
  name: string,
  found: Found,
): Promise<ReconcileOutcome> {
  const c0 = found.cache;
  // the runtime's DEL may have run while this waited for the turn: then there is nothing to do
  const loaded = readCache(deps.cniDir, {
    network: c0.networkName ?? '',
    containerId: c0.containerId,
    ifname: c0.ifname,
  });
  const o = deps.kube.pods.get(ns, name);
  if (loaded.state !== 'ok' || !o || obj(o.metadata).deletionTimestamp !== undefined) return NOTHING;
  const cache = loaded.cache;
  const value = annotationOf(o);
  const ctx = contextOf(deps, cache);
  const attached = fromCache(cache);
  // an ADD that failed and left its cache for the runtime's DEL: that pod is not running
  if (attached.some((a) => !a.result)) return NOTHING;
  const base = Math.min(baseCount(ctx, ns), attached.length);
  const uid = uidOf(o);
  const id: PodIdentity = {
    namespace: ns,
    name,
    uid: cache.pod?.uid || uid,
    infraContainerId: cache.containerId,
  };
  const source: SharedConnection = { server: deps.kube.server, send: (...a) => deps.kube.send(...a) };
  const events = new PodEvents(source, { namespace: ns, name, uid: id.uid });
  const warn = async (message: string) => {
    await events.record([{ type: 'Warning', reason: 'HotplugFailed', message }]);
  };
  let want: NetworkSelection[];
  try {
    want = parseNetworksAnnotation(value, ns);
  } catch (err) {
    const message = `hot-plug of pod ${ns}/${name}: ${describeError(err)}`;
    await warn(message);
    return { ...NOTHING, acted: value, failures: [{ transient: false, message }] };
  }
  const { attach, detach } = diff(attached.slice(base), want);
  if (attach.length === 0 && detach.length === 0) return { ...NOTHING, acted: value };
  const list = [...attached];
  const save = () => writeCache(ctx.conf.cniDirOrDefault, toCache(ctx, list));
  const failures: { transient: boolean; message: string }[] = [];
  const notes: { type: 'Normal'; reason: string; message: string }[] = [];
  let detached = 0;
  for (const a of [...detach].reverse()) {
    const t = await deleteOne(ctx, a);
    if (t) {
      failures.push({ transient: true, message: `detach of ${a.ifname} (${statusNameOf(a)}): ${t}` });
      continue;
    }
    list.splice(list.indexOf(a), 1);
    save();
    detached++;
    const ips = (a.result?.ips ?? []).map((ip) => ip.address);
    notes.push({
      type: 'Normal',
      reason: 'RemovedInterface',
      message: `Remove ${a.ifname} [${ips.join(' ')}] from ${statusNameOf(a)}`,
    });
  }
  let added = 0;
  const client = new KubeClient(
    source,
    new Budget((ctx.conf.kubeApiTimeoutSeconds ?? DEFAULT_KUBE_API_TIMEOUT_S) * 1000),
  );
  try {
    for (const sel of attach) {
      try {
        const a = await attachOne(deps, ctx, client, id, sel, list, save);
        added++;
        notes.push({ type: 'Normal', reason: 'AddedInterface', message: addedInterfaceMessage(a) });
      } catch (err) {
        const e = err instanceof CniError ? err : new CniError(Code.Internal, describeError(err));
        const message = `hot-plug of network ${q(selName(sel))}${sel.interface ? ` as ${q(sel.interface)}` : ''} into pod ${ns}/${name} failed: ${e.message}`;
        failures.push({ transient: isTransient(e), message });
        if (!isTransient(e)) await warn(message);
      }
    }
    if (added + detached > 0) {
      try {
        await publishStatus(ctx.conf, client, asPod(o), id, list);
      } catch (err) {
        failures.push({ transient: true, message: `network-status not written: ${describeError(err)}` });
      }
      await events.record(notes);
    }
  } finally {
    client.close();
  }
  if (failures.some((f) => f.transient)) return { attached: added, detached, failures };
  return { acted: value, attached: added, detached, failures };
}
