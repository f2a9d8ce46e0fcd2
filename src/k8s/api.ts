/**
 * The few API calls the meta-plugin makes, on the real paths and object shapes: GET a pod,
 * GET a NetworkAttachmentDefinition (k8s.cni.cncf.io/v1), the pod's network-status
 * annotation written with a merge patch of the `status` subresource, and Events about the
 * pod (core/v1, as Multus records them).
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

/** A pod from elsewhere (a watch's cache) checked as a GET's answer is. */
export const asPod = (body: unknown): Pod => shape(PodSchema, body, 'pod');
export const asNad = (body: unknown): Nad => shape(NadSchema, body, 'NetworkAttachmentDefinition');

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

/**
 * Sets one annotation with a JSON merge patch of pods/status (RFC 7386): no read first, no
 * resourceVersion conflict to retry, and RBAC needs only `patch` on pods/status. `uid`, when
 * given, is a precondition (as kubelet sends it): the API server answers 409 Conflict when the
 * pod of that name is another one. Returns "gone" then, and when the pod does not exist.
 */
export async function patchPodAnnotation(
  client: KubeClient,
  ns: string,
  name: string,
  uid: string | undefined,
  key: string,
  value: string,
): Promise<'written' | 'gone'> {
  const patch = { metadata: { ...(uid ? { uid } : {}), annotations: { [key]: value } } };
  try {
    await client.request('PATCH', `${podPath(ns, name)}/status`, patch, 'application/merge-patch+json');
    return 'written';
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    if (err instanceof ApiError && err.status === 409) return 'gone';
    throw err;
  }
}

/** A core/v1 Event about a pod (what `kubectl describe pod` lists). */
export interface PodEvent {
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid?: string | undefined };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  /** Who reports it (`source.component`, `reportingComponent`). */
  readonly component: string;
  /** The node (`source.host`, `reportingInstance`). */
  readonly host?: string | undefined;
}

/** The most an event message may be (the API server refuses longer ones: 1 KiB in events.k8s.io). */
const MAX_EVENT_MESSAGE = 1024;

/** Creates the event (POST events), named `<pod>.<hex nanoseconds>` as client-go names them. */
export async function createPodEvent(client: KubeClient, e: PodEvent, now = new Date()): Promise<void> {
  const ns = e.pod.namespace;
  const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6));
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const message =
    e.message.length > MAX_EVENT_MESSAGE ? `${e.message.slice(0, MAX_EVENT_MESSAGE - 3)}...` : e.message;
  const event = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${e.pod.name}.${nanos.toString(16)}`, namespace: ns },
    involvedObject: {
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: ns,
      name: e.pod.name,
      ...(e.pod.uid ? { uid: e.pod.uid } : {}),
    },
    type: e.type,
    reason: e.reason,
    message,
    source: { component: e.component, ...(e.host ? { host: e.host } : {}) },
    reportingComponent: e.component,
    reportingInstance: e.host ?? '',
    firstTimestamp: stamp,
    lastTimestamp: stamp,
    count: 1,
  };
  await client.request('POST', `/api/v1/namespaces/${seg(ns)}/events`, event);
}
