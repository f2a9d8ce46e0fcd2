/**
 * What `manifold attach` and `manifold detach` share (docs/hotplug.md): they act through the
 * daemon's hot-plug by editing the pod's `k8s.v1.cni.cncf.io/networks` annotation in the API
 * server — the same path a user's `kubectl annotate` takes, so the daemon has one trigger and
 * the annotation always says what the pod should have. The annotation is read, edited as a
 * list of elements (the comma form becomes the JSON form) and written back with a JSON merge
 * patch whose metadata.resourceVersion is a precondition (a concurrent edit: read again and
 * retry); then they wait for the pod's network-status to show the change.
 */
import { ApiError } from '../../k8s/errors.ts';
import { UsageError } from './flags.ts';

export const NETWORKS = 'k8s.v1.cni.cncf.io/networks';
export const NETWORK_STATUS = 'k8s.v1.cni.cncf.io/network-status';

export type Element = Record<string, unknown> & { name: string; namespace?: string; interface?: string };

export interface StatusEntry {
  readonly name: string;
  readonly interface?: string;
  readonly ips?: readonly string[];
}

interface PodMeta {
  readonly resourceVersion?: string;
  readonly annotations?: Record<string, string>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `NS/NAME` or `NAME` (then --namespace, default "default"). */
export function podRef(arg: string, namespace: string | undefined): { namespace: string; name: string } {
  const i = arg.indexOf('/');
  if (i < 0) return { namespace: namespace ?? 'default', name: arg };
  if (namespace !== undefined)
    throw new UsageError(`POD ${JSON.stringify(arg)} names its namespace: no --namespace then`);
  return { namespace: arg.slice(0, i), name: arg.slice(i + 1) };
}

/** The annotation's elements, the comma form (`ns/name@if`) turned into objects. */
export function elementsOf(value: string): Element[] {
  if (value.trim() === '') return [];
  if (/[[{"]/.test(value)) {
    const v = JSON.parse(value) as unknown;
    if (!Array.isArray(v)) throw new UsageError(`the pod's ${NETWORKS} annotation is not a JSON list`);
    return v as Element[];
  }
  return value.split(',').map((item) => {
    const [ref = '', ifname] = item.trim().split('@');
    const i = ref.indexOf('/');
    const el: Element = i < 0 ? { name: ref } : { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
    if (ifname) el.interface = ifname;
    return el;
  });
}

export function statusOf(meta: PodMeta): StatusEntry[] {
  const v = meta.annotations?.[NETWORK_STATUS];
  if (!v) return [];
  try {
    const list = JSON.parse(v) as unknown;
    return Array.isArray(list) ? (list as StatusEntry[]) : [];
  } catch {
    return [];
  }
}

export interface Api {
  get(ns: string, name: string): Promise<PodMeta>;
  patch(ns: string, name: string, resourceVersion: string, value: string): Promise<void>;
}

/** The API client: --kubeconfig, else $KUBECONFIG, else the in-cluster service account. */
export async function apiFor(kubeconfig: string | undefined, env: Env): Promise<Api> {
  const { Budget, KubeClient } = await import(/* webpackMode: "eager" */ '../../k8s/client.ts');
  const file = kubeconfig ?? env.KUBECONFIG;
  let source: ConstructorParameters<typeof KubeClient>[0];
  if (file) {
    const { kubeconfigSource } = await import(/* webpackMode: "eager" */ '../../k8s/kubeconfig.ts');
    source = kubeconfigSource(file);
  } else {
    const { hasInClusterEnv, inClusterSource } = await import(
      /* webpackMode: "eager" */ '../../k8s/incluster.ts'
    );
    if (!hasInClusterEnv(env))
      throw new UsageError('no credentials: --kubeconfig FILE, $KUBECONFIG, or run in a pod');
    source = inClusterSource(env);
  }
  const path = (ns: string, name: string) =>
    `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
  const client = () => new KubeClient(source, new Budget(10_000));
  return {
    async get(ns, name) {
      const c = client();
      try {
        const pod = (await c.request('GET', path(ns, name))) as { metadata?: PodMeta };
        return pod.metadata ?? {};
      } finally {
        c.close();
      }
    },
    async patch(ns, name, resourceVersion, value) {
      const c = client();
      try {
        const body = { metadata: { resourceVersion, annotations: { [NETWORKS]: value } } };
        await c.request('PATCH', path(ns, name), body, 'application/merge-patch+json');
      } finally {
        c.close();
      }
    },
  };
}

/**
 * Reads the pod, edits its elements with `edit` (which throws a UsageError to refuse), writes
 * them back; a 409 (someone else wrote the pod meanwhile) is read again and retried.
 */
export async function editNetworks(
  api: Api,
  ns: string,
  name: string,
  edit: (elements: Element[], meta: PodMeta) => Element[],
): Promise<PodMeta> {
  for (let attempt = 0; ; attempt++) {
    const meta = await api.get(ns, name);
    const next = edit(elementsOf(meta.annotations?.[NETWORKS] ?? ''), meta);
    try {
      await api.patch(ns, name, meta.resourceVersion ?? '', JSON.stringify(next));
      return meta;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409) || attempt >= 4) throw err;
    }
  }
}

/** Polls the pod's network-status until `done` says so, at most `seconds`. */
export async function waitForStatus(
  api: Api,
  ns: string,
  name: string,
  seconds: number,
  done: (status: StatusEntry[]) => boolean,
): Promise<StatusEntry[] | undefined> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const status = statusOf(await api.get(ns, name));
    if (done(status)) return status;
    if (Date.now() >= until) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}
