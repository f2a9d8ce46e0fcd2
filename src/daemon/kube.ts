/**
 * The daemon's Kubernetes view ("kept warm", docs/daemon.md): watches of the pods on this node
 * (`fieldSelector=spec.nodeName=<node>`) and of every NetworkAttachmentDefinition, trimmed to
 * the fields the meta-plugin reads, and one kept-alive connection for the writes
 * (network-status, Events, DRA claim status); once a call asks for them (a pod with DRA
 * claims), also a watch of this node's ResourceSlices. It is the KubeHost (src/cni/host.ts) every call gets: an ADD with
 * warm caches reads nothing from the API; a miss (cache not synced, a pod newer than the
 * cache, another uid) is answered "unknown" and the call reads through the API. Credentials:
 * `--kubeconfig FILE`, else the in-cluster service account.
 */
import type { ApiReply, JsonObject, KubeHost } from '../cni/host.ts';
import { type Agents, keptAliveAgents, sendOnce } from '../k8s/client.ts';
import { hasInClusterEnv, inClusterSource } from '../k8s/incluster.ts';
import { Informer, type InformerStats } from '../k8s/informer.ts';
import { kubeconfigSource } from '../k8s/kubeconfig.ts';
import type { TargetSource } from '../k8s/target.ts';

export const PODS_PATH = '/api/v1/pods';
export const NADS_PATH = '/apis/k8s.cni.cncf.io/v1/network-attachment-definitions';
export const SLICES_PATH = '/apis/resource.k8s.io/v1/resourceslices';

type Env = Readonly<Record<string, string | undefined>>;

const obj = (v: unknown): JsonObject =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {};

/** What is kept of object metadata: name, namespace, uid, resourceVersion, annotations, deletionTimestamp. */
function trimMeta(m: JsonObject): JsonObject {
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'annotations', 'deletionTimestamp'])
    if (m[k] !== undefined) out[k] = m[k];
  return out;
}

/** What is kept of a pod: metadata, spec.nodeName, and its DRA claims (spec.resourceClaims, status.resourceClaimStatuses). */
export function trimPod(o: JsonObject): JsonObject {
  const spec = obj(o.spec);
  const claimStatuses = obj(o.status).resourceClaimStatuses;
  return {
    metadata: trimMeta(obj(o.metadata)),
    spec: {
      ...(spec.nodeName === undefined ? {} : { nodeName: spec.nodeName }),
      ...(spec.resourceClaims === undefined ? {} : { resourceClaims: spec.resourceClaims }),
    },
    ...(claimStatuses === undefined ? {} : { status: { resourceClaimStatuses: claimStatuses } }),
  };
}

/** What is kept of a ResourceSlice: its driver, pool, node, and each device's name and attributes. */
export function trimSlice(o: JsonObject): JsonObject {
  const spec = obj(o.spec);
  const devices = Array.isArray(spec.devices) ? spec.devices.map(obj) : [];
  return {
    metadata: trimMeta(obj(o.metadata)),
    spec: {
      driver: spec.driver,
      pool: { name: obj(spec.pool).name },
      nodeName: spec.nodeName,
      devices: devices.map((d) => ({ name: d.name, attributes: d.attributes ?? {} })),
    },
  };
}

/** A server-side apply of a ResourceClaim's status (manifold's network data, src/meta/pods/dra-status.ts). */
const CLAIM_STATUS_PATH =
  /^\/apis\/resource\.k8s\.io\/v1\/namespaces\/[^/]+\/resourceclaims\/[^/]+\/status(\?|$)/;

/** The outcome of a claim status write as the metric labels it. */
function writeOutcome(status: number | undefined): string {
  if (status === undefined) return 'unanswered';
  if (status >= 200 && status < 300) return 'written';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'gone';
  if (status === 409) return 'conflict';
  return 'error';
}

export function trimNad(o: JsonObject): JsonObject {
  const spec = obj(o.spec);
  return {
    metadata: trimMeta(obj(o.metadata)),
    spec: spec.config === undefined ? {} : { config: spec.config },
  };
}

/** A static pod's API object is its mirror: kubelet's uid (K8S_POD_UID) is not the API's. */
export function isMirrorPod(pod: JsonObject): boolean {
  const a = obj(obj(pod.metadata).annotations);
  const source = a['kubernetes.io/config.source'];
  return (typeof source === 'string' && source !== 'api') || a['kubernetes.io/config.mirror'] !== undefined;
}

export const uidOf = (o: JsonObject): string => {
  const uid = obj(o.metadata).uid;
  return typeof uid === 'string' ? uid : '';
};

export interface Credentials {
  readonly source: TargetSource;
  /** For messages: `kubeconfig "…"` or `in-cluster config`. */
  readonly from: string;
}

/** `--kubeconfig FILE`, else the in-cluster service account when its env is set, else none. */
export function daemonCredentials(kubeconfig: string | undefined, env: Env): Credentials | undefined {
  if (kubeconfig)
    return { source: kubeconfigSource(kubeconfig), from: `kubeconfig ${JSON.stringify(kubeconfig)}` };
  if (hasInClusterEnv(env)) return { source: inClusterSource(env), from: 'in-cluster config' };
  return undefined;
}

export interface KubeWatchOptions {
  readonly credentials: Credentials;
  readonly nodeName: string;
  readonly log: (line: string) => void;
  /** The watches' timeoutSeconds (default 300). */
  readonly watchTimeoutSeconds?: number;
  readonly backoffMs?: { readonly first: number; readonly max: number };
}

interface Lookups {
  hit: number;
  miss: number;
}

export class KubeWatches implements KubeHost {
  readonly pods: Informer;
  readonly nads: Informer;
  readonly nodeName: string;
  readonly server: string;
  readonly lookups: { readonly pod: Lookups; readonly nad: Lookups } = {
    pod: { hit: 0, miss: 0 },
    nad: { hit: 0, miss: 0 },
  };
  /** ResourceClaim status writes (DRA network data) by outcome, each attempt counted. */
  readonly claimStatusWrites = new Map<string, number>();
  readonly #source: TargetSource;
  readonly #agents: Agents = keptAliveAgents();
  /** The node's ResourceSlices: watched from the first call that asks (a pod with DRA claims). */
  #slices: Informer | undefined;
  readonly #slicesOptions: ConstructorParameters<typeof Informer>[0];
  #stopped = false;

  constructor(opts: KubeWatchOptions) {
    this.#source = opts.credentials.source;
    this.server = opts.credentials.from;
    this.nodeName = opts.nodeName;
    const common = {
      source: opts.credentials.source,
      log: opts.log,
      ...(opts.watchTimeoutSeconds ? { timeoutSeconds: opts.watchTimeoutSeconds } : {}),
      ...(opts.backoffMs ? { backoffMs: opts.backoffMs } : {}),
    };
    this.pods = new Informer({
      ...common,
      resource: 'pods',
      path: PODS_PATH,
      selector: { fieldSelector: `spec.nodeName=${opts.nodeName}` },
      trim: trimPod,
    });
    this.nads = new Informer({
      ...common,
      resource: 'network-attachment-definitions',
      path: NADS_PATH,
      trim: trimNad,
    });
    this.#slicesOptions = {
      ...common,
      resource: 'resourceslices',
      path: SLICES_PATH,
      selector: { fieldSelector: `spec.nodeName=${opts.nodeName}` },
      trim: trimSlice,
    };
  }

  /** The ResourceSlices watch, once a call has asked for it. */
  get slices(): Informer | undefined {
    return this.#slices;
  }

  resourceSlices(nodeName: string): readonly JsonObject[] | undefined {
    if (nodeName !== this.nodeName || this.#stopped) return undefined;
    if (!this.#slices) {
      this.#slices = new Informer(this.#slicesOptions);
      this.#slices.start();
    }
    return this.#slices.synced ? this.#slices.values() : undefined;
  }

  start(): void {
    this.pods.start();
    this.nads.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([this.pods.stop(), this.nads.stop(), this.#slices?.stop()]);
    this.#agents.https.destroy();
    this.#agents.http.destroy();
  }

  pod(namespace: string, name: string, uid: string, stale = false): JsonObject | undefined {
    const o = this.pods.synced || stale ? this.pods.get(namespace, name) : undefined;
    const ok = o !== undefined && (!uid || uidOf(o) === uid || isMirrorPod(o));
    this.lookups.pod[ok ? 'hit' : 'miss']++;
    return ok ? o : undefined;
  }

  nad(namespace: string, name: string, stale = false): JsonObject | undefined {
    const o = this.nads.synced || stale ? this.nads.get(namespace, name) : undefined;
    this.lookups.nad[o ? 'hit' : 'miss']++;
    return o;
  }

  async send(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    timeoutMs: number,
  ): Promise<ApiReply> {
    if (method !== 'PATCH' || !CLAIM_STATUS_PATH.test(path))
      return sendOnce(this.#agents, await this.#source(), method, path, body, contentType, timeoutMs);
    let status: number | undefined;
    try {
      const reply = await sendOnce(
        this.#agents,
        await this.#source(),
        method,
        path,
        body,
        contentType,
        timeoutMs,
      );
      status = reply.status;
      return reply;
    } finally {
      const k = writeOutcome(status);
      this.claimStatusWrites.set(k, (this.claimStatusWrites.get(k) ?? 0) + 1);
    }
  }

  #informers(): Informer[] {
    return this.#slices ? [this.pods, this.nads, this.#slices] : [this.pods, this.nads];
  }

  /**
   * Whether the API server confirms the pod is gone (404, or another uid: deleted and made
   * again): garbage collection asks before it deletes anything, so a watch that is wrong (a
   * --node-name that is not this node's) never costs a live pod its networks. False when the
   * API cannot say (unreachable, refused).
   */
  async confirmGone(namespace: string, name: string, uid: string): Promise<boolean> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    let reply: ApiReply;
    try {
      reply = await this.send('GET', path, undefined, 'application/json', 5000);
    } catch {
      return false;
    }
    if (reply.status === 404) return true;
    if (reply.status !== 200) return false;
    const pod = obj(reply.body);
    return !!uid && uidOf(pod) !== uid && !isMirrorPod(pod);
  }

  /** The watches' metrics (Prometheus text lines). */
  metricLines(now = performance.now()): string[] {
    const out: string[] = [];
    const each = (name: string, help: string, type: string, value: (s: InformerStats) => number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const i of this.#informers()) out.push(`${name}{resource="${i.resource}"} ${value(i.stats)}`);
    };
    each('manifold_kube_watch_up', '1 while the watch is connected.', 'gauge', (s) => (s.up ? 1 : 0));
    each(
      'manifold_kube_watch_synced',
      '1 while the cache is complete (listed, watch without a gap).',
      'gauge',
      (s) => (s.synced ? 1 : 0),
    );
    each('manifold_kube_watch_objects', 'Objects in the cache.', 'gauge', (s) => s.objects);
    each(
      'manifold_kube_watch_lists_total',
      'Lists made (the first one and every relist).',
      'counter',
      (s) => s.lists,
    );
    each('manifold_kube_watch_errors_total', 'Failed lists and watches.', 'counter', (s) => s.errors);
    each(
      'manifold_kube_watch_last_event_age_seconds',
      'Seconds since the last event or list (-1: none yet).',
      'gauge',
      (s) => (s.lastEventAt ? Number(((now - s.lastEventAt) / 1000).toFixed(3)) : -1),
    );
    out.push(
      '# HELP manifold_kube_watch_events_total Watch events received, by type.',
      '# TYPE manifold_kube_watch_events_total counter',
    );
    for (const i of this.#informers())
      for (const [type, n] of Object.entries(i.stats.events))
        out.push(`manifold_kube_watch_events_total{resource="${i.resource}",type="${type}"} ${n}`);
    out.push(
      '# HELP manifold_kube_cache_lookups_total Lookups of the watch caches by calls: hit, or miss (read through the API).',
      '# TYPE manifold_kube_cache_lookups_total counter',
    );
    for (const [what, l] of Object.entries(this.lookups)) {
      const resource = what === 'pod' ? 'pods' : 'network-attachment-definitions';
      out.push(`manifold_kube_cache_lookups_total{resource="${resource}",result="hit"} ${l.hit}`);
      out.push(`manifold_kube_cache_lookups_total{resource="${resource}",result="miss"} ${l.miss}`);
    }
    out.push(
      '# HELP manifold_dra_status_writes_total ResourceClaim status.devices writes (network data of DRA devices) by outcome: written, forbidden (RBAC), gone, conflict, error, unanswered.',
      '# TYPE manifold_dra_status_writes_total counter',
    );
    for (const [result, n] of this.claimStatusWrites)
      out.push(`manifold_dra_status_writes_total{result="${result}"} ${n}`);
    return out;
  }
}
