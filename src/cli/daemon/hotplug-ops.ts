/**
 * What hot-plug does to one pod (docs/hotplug.md), with the meta-plugin's own pieces: the
 * pod's attachment cache (src/meta/cache.ts) says what it has, its networks annotation what
 * it wants; the difference is attached (a NAD-backed delegate built by nadDelegate, run by
 * addNetwork with the runtime view every delegate gets) and detached (teardown's deleteAll),
 * each change written to the same cache first, so the runtime's DEL — which waits behind
 * this work for the container's turn (Daemon.runTask) — removes everything either made.
 * Then the pod's network-status is written again and the events recorded. A failed attach
 * is rolled back; the other attachments are never touched. Kept here, at the command, so
 * src/daemon knows nothing of the meta-plugin's files (as gc-candidates.ts).
 */
import { existsSync } from 'node:fs';
import { CniError, Code, describeError, q } from '../../cni/errors.ts';
import type { JsonObject } from '../../cni/host.ts';
import type { Invoker } from '../../cni/plugin.ts';
import type { ReconcileOutcome } from '../../daemon/hotplug.ts';
import type { KubeWatches } from '../../daemon/kube.ts';
import { isMirrorPod, uidOf } from '../../daemon/kube.ts';
import { addNetwork } from '../../invoke/network.ts';
import { asNad, asPod, getNad, type Nad } from '../../k8s/api.ts';
import { Budget, KubeClient, type SharedConnection } from '../../k8s/client.ts';
import { allocatedDevices } from '../../k8s/devices.ts';
import { kernelPodLinks } from '../../meta/add.ts';
import {
  type Attached,
  type Ctx,
  describe,
  fromCache,
  runtimeFor,
  toCache,
  wrap,
} from '../../meta/attachment.ts';
import { type CacheFile, readCache, readCaches, writeCache } from '../../meta/cache.ts';
import {
  DEFAULT_DEVICE_INFO_DIR,
  DEFAULT_KUBE_API_TIMEOUT_S,
  DEFAULT_KUBELET_CHECKPOINT,
  DEFAULT_POD_RESOURCES_SOCKET,
  parseMetaConf,
} from '../../meta/config.ts';
import { delegatesFromConfig } from '../../meta/delegates.ts';
import { cniDeviceInfoPath, dpDeviceInfoPath, prepareDeviceInfo } from '../../meta/device-info.ts';
import type { PodIdentity } from '../../meta/pod-call.ts';
import {
  NETWORKS_ANNOTATION,
  type NetworkSelection,
  parseNetworksAnnotation,
} from '../../meta/pods/annotation.ts';
import { addedInterfaceMessage, PodEvents } from '../../meta/pods/events.ts';
import { checkIsolation, isSystemNamespace } from '../../meta/pods/isolation.ts';
import { nadAnnotation } from '../../meta/pods/nad.ts';
import { nadDelegate, RESOURCE_NAME_ANNOTATION } from '../../meta/pods/nad-delegate.ts';
import { publishStatus } from '../../meta/pods/pod-status.ts';
import { deleteAll } from '../../meta/teardown.ts';
import { parseCniArgs } from '../../skel/env.ts';
import { inCall } from '../../util/call.ts';

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
const selName = (s: NetworkSelection): string => `${s.namespace}/${s.name}`;

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

/** The first `net<N>` (N from 1) no interface of the pod has. */
function firstFree(taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) if (!taken.has(`net${n}`)) return `net${n}`;
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

/** DEL of one attachment; the message of what is left to retry, else undefined. */
async function deleteOne(ctx: Ctx, a: Attached): Promise<string | undefined> {
  const t = await deleteAll(ctx, [a], ctx.netns, ctx.containerId);
  return t.transient.length ? t.transient.map((e) => e.message).join('; ') : undefined;
}

/** The NAD, from the watch cache when it has it, else a GET. */
async function readNad(deps: HotplugDeps, client: KubeClient, sel: NetworkSelection): Promise<Nad> {
  const cached = deps.kube.nad(sel.namespace, sel.name);
  const nad = cached ? asNad(cached) : await getNad(client, sel.namespace, sel.name);
  if (!nad) {
    throw new CniError(Code.InvalidConfig, `no such NetworkAttachmentDefinition ${q(selName(sel))}`);
  }
  return nad;
}

/** A device kubelet allocated to the pod for `resource` that no attachment of it uses, else code 7. */
async function spareDevice(
  ctx: Ctx,
  id: PodIdentity,
  resource: string,
  list: readonly Attached[],
): Promise<string> {
  const conf = ctx.conf;
  const { devices, from } = await allocatedDevices(
    {
      socket: conf.podResourcesSocket || DEFAULT_POD_RESOURCES_SOCKET,
      checkpoint: conf.kubeletCheckpointFile || DEFAULT_KUBELET_CHECKPOINT,
      timeoutMs: 5000,
    },
    id,
  );
  const all = devices.get(resource) ?? [];
  const used = new Set(list.flatMap((a) => (a.delegate.k8s?.deviceID ? [a.delegate.k8s.deviceID] : [])));
  const spare = all.find((d) => !used.has(d));
  if (spare === undefined) {
    throw new CniError(
      Code.InvalidConfig,
      `no spare device of resource ${q(resource)}: pod ${id.namespace}/${id.name} has ${all.length} allocated (${from}) and its attachments use ${all.length === 1 ? 'it' : 'all of them'}`,
      'a pod cannot gain a device after admission: request more of the resource than its first networks use',
    );
  }
  return spare;
}

async function attachOne(
  deps: HotplugDeps,
  ctx: Ctx,
  client: KubeClient,
  id: PodIdentity,
  sel: NetworkSelection,
  list: Attached[],
  save: () => void,
): Promise<Attached> {
  const conf = ctx.conf;
  checkIsolation(conf, id.namespace, sel.namespace, sel.name);
  const nad = await readNad(deps, client, sel);
  const resource = nadAnnotation(nad, RESOURCE_NAME_ANNOTATION);
  const deviceID = resource ? await spareDevice(ctx, id, resource, list) : undefined;
  const draft = nadDelegate(conf, sel, nad, false, deviceID);
  if (draft.multihome) {
    throw new CniError(Code.InvalidConfig, `${describe(draft)}: multi-homing options cannot be hot-plugged`);
  }
  if (draft.defaultRoute) {
    throw new CniError(
      Code.InvalidConfig,
      `${describe(draft)}: a default-route request cannot be hot-plugged`,
    );
  }
  const taken = new Set([...list.map((a) => a.ifname), ...(await kernelPodLinks(ctx.netns))]);
  const ifname = sel.interface ?? draft.ifnameRequest ?? firstFree(taken);
  if (taken.has(ifname)) {
    throw new CniError(
      Code.InvalidConfig,
      `interface ${q(ifname)} already exists in pod ${id.namespace}/${id.name}`,
    );
  }
  let delegate = { ...draft, ifnameRequest: ifname };
  const k = delegate.k8s;
  if (k?.deviceID) {
    const dir = conf.deviceInfoDir || DEFAULT_DEVICE_INFO_DIR;
    const file = cniDeviceInfoPath(dir, k.statusName, ctx.containerId, ifname);
    const source = k.resourceName ? dpDeviceInfoPath(dir, k.resourceName, k.deviceID) : undefined;
    delegate = {
      ...delegate,
      k8s: {
        ...k,
        capabilityArgs: { ...k.capabilityArgs, CNIDeviceInfoFile: file },
        deviceInfoFile: file,
        ...(source ? { deviceInfoSource: source } : {}),
      },
    };
  }
  const a: Attached = { delegate, ifname, result: undefined };
  // in the cache before it runs: a DEL after a crash here still removes it
  list.push(a);
  save();
  try {
    if (delegate.k8s) prepareDeviceInfo(delegate.k8s);
    a.result = await addNetwork(ctx.invoker, delegate.network, runtimeFor(ctx, a));
  } catch (err) {
    const cause = wrap(delegate, '', err);
    a.addError = err instanceof Error ? err.message : String(err);
    const left = await deleteOne(ctx, a);
    if (left) {
      // kept in the cache with its ADD error: the pod's DEL finishes it
      save();
      throw new CniError(cause.code, `${cause.message}; its rollback is not complete (${left})`);
    }
    list.splice(list.indexOf(a), 1);
    save();
    throw cause;
  }
  save();
  deps.log(`hot-plug: pod ${id.namespace}/${id.name}: ${describe(delegate)} attached as ${ifname}`);
  return a;
}
