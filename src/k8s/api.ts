/**
 * The few API calls the meta-plugin makes, on the real paths and object shapes: GET a pod,
 * GET a NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), and the pod's network-status
 * annotation written the way Multus writes it — GET the pod, set the annotation, PUT it to
 * the `status` subresource (so RBAC needs only `update` on pods/status), again on 409
 * Conflict with the fresh object.
 */
import * as z from 'zod/mini';
import type { KubeClient } from './client.ts';
import { ApiError, isNotFound } from './errors.ts';

const MetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.optional(z.string()),
  uid: z.optional(z.string()),
  resourceVersion: z.optional(z.string()),
  annotations: z.nullish(z.record(z.string(), z.string())),
});

const PodSchema = z.looseObject({ metadata: MetaSchema });
export type Pod = z.output<typeof PodSchema>;

const NadSchema = z.looseObject({
  metadata: MetaSchema,
  spec: z.nullish(z.looseObject({ config: z.optional(z.string()) })),
});
export type Nad = z.output<typeof NadSchema>;

/** A static pod's API object is its mirror pod: its uid is not the one kubelet knows (as Multus). */
export function isStaticPod(pod: Pod): boolean {
  const source = pod.metadata.annotations?.['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}

const seg = (s: string) => encodeURIComponent(s);
const podPath = (ns: string, name: string) => `/api/v1/namespaces/${seg(ns)}/pods/${seg(name)}`;

function shape<S extends z.ZodMiniType>(schema: S, body: unknown, what: string): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(200, 'Invalid', `the API server sent a malformed ${what}`);
  return r.data;
}

/** The pod, or undefined when the API server says it does not exist. */
export async function getPod(client: KubeClient, ns: string, name: string): Promise<Pod | undefined> {
  try {
    return shape(PodSchema, await client.request('GET', podPath(ns, name)), 'pod');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function getNad(client: KubeClient, ns: string, name: string): Promise<Nad | undefined> {
  const path = `/apis/k8s.cni.cncf.io/v1/namespaces/${seg(ns)}/network-attachment-definitions/${seg(name)}`;
  try {
    return shape(NadSchema, await client.request('GET', path), 'NetworkAttachmentDefinition');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const CONFLICT_RETRIES = 5;

/**
 * Sets one annotation through pods/status. Returns "gone" when the pod no longer exists (or
 * is another pod of the same name: `uid` differs), "written" otherwise.
 */
export async function setPodAnnotation(
  client: KubeClient,
  ns: string,
  name: string,
  uid: string | undefined,
  key: string,
  value: string,
): Promise<'written' | 'gone'> {
  for (let i = 0; ; i++) {
    const body = await client.request('GET', podPath(ns, name)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (body === undefined) return 'gone';
    const pod = shape(PodSchema, body, 'pod') as Pod & Record<string, unknown>;
    if (uid && pod.metadata.uid && pod.metadata.uid !== uid && !isStaticPod(pod)) return 'gone';
    pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [key]: value };
    try {
      await client.request('PUT', `${podPath(ns, name)}/status`, pod);
      return 'written';
    } catch (err) {
      if (isNotFound(err)) return 'gone';
      if (err instanceof ApiError && err.status === 409 && i < CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}
