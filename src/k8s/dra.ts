/**
 * Dynamic Resource Allocation (resource.k8s.io/v1) as the meta-plugin uses it: a pod's
 * ResourceClaims (GET), the node's ResourceSlices (LIST by `spec.nodeName`), and the claim's
 * `status.devices` written by server-side apply (`application/apply-patch+yaml` under a field
 * manager of manifold's, so only manifold's own entries of the list-map keyed by driver, pool
 * and device are set or removed: a driver's entries stay). Only the fields read are checked.
 */
import * as z from 'zod/mini';
import type { KubeClient } from './client.ts';
import { ApiError, isNotFound } from './errors.ts';

export const DRA_API = '/apis/resource.k8s.io/v1';

/** The field manager manifold's status entries are applied under. */
export const DRA_FIELD_MANAGER = 'manifold';

const seg = (s: string) => encodeURIComponent(s);

const ResultSchema = z.looseObject({
  request: z.optional(z.string()),
  driver: z.string(),
  pool: z.string(),
  device: z.string(),
});

const ClaimSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.optional(z.string()),
    uid: z.optional(z.string()),
  }),
  status: z.nullish(
    z.looseObject({
      allocation: z.nullish(
        z.looseObject({
          devices: z.nullish(z.looseObject({ results: z.nullish(z.array(ResultSchema)) })),
        }),
      ),
    }),
  ),
});
export type ResourceClaim = z.output<typeof ClaimSchema>;
export type AllocationResult = z.output<typeof ResultSchema>;

/** An attribute value: exactly one of string, int, bool, version. */
const AttributeSchema = z.looseObject({
  string: z.optional(z.string()),
  int: z.optional(z.number()),
  bool: z.optional(z.boolean()),
  version: z.optional(z.string()),
});

const SliceSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({
    driver: z.string(),
    pool: z.looseObject({ name: z.string() }),
    nodeName: z.nullish(z.string()),
    devices: z.nullish(
      z.array(
        z.looseObject({
          name: z.string(),
          attributes: z.nullish(z.record(z.string(), AttributeSchema)),
        }),
      ),
    ),
  }),
});
export type ResourceSlice = z.output<typeof SliceSchema>;

const SliceListSchema = z.looseObject({
  items: z.nullish(z.array(SliceSchema)),
  metadata: z.optional(z.looseObject({ continue: z.optional(z.string()) })),
});

function shape<S extends z.ZodMiniType>(schema: S, body: unknown, what: string): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(200, 'Invalid', `the API server sent a malformed ${what}`);
  return r.data;
}

/** ResourceSlices from elsewhere (a watch's cache) checked as a list's items are. */
export const asSlices = (items: readonly unknown[]): ResourceSlice[] =>
  items.map((o) => shape(SliceSchema, o, 'ResourceSlice'));

export const claimPath = (ns: string, name: string): string =>
  `${DRA_API}/namespaces/${seg(ns)}/resourceclaims/${seg(name)}`;

/** The claim, or undefined when it does not exist. */
export async function getClaim(
  client: KubeClient,
  ns: string,
  name: string,
): Promise<ResourceClaim | undefined> {
  try {
    return shape(ClaimSchema, await client.request('GET', claimPath(ns, name)), 'ResourceClaim');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The ResourceSlices of a node (every driver), all pages. */
export async function listNodeSlices(client: KubeClient, nodeName: string): Promise<ResourceSlice[]> {
  const out: ResourceSlice[] = [];
  let next = '';
  do {
    const q = new URLSearchParams({ fieldSelector: `spec.nodeName=${nodeName}`, limit: '500' });
    if (next) q.set('continue', next);
    const list = shape(
      SliceListSchema,
      await client.request('GET', `${DRA_API}/resourceslices?${q}`),
      'ResourceSliceList',
    );
    out.push(...(list.items ?? []));
    next = list.metadata?.continue ?? '';
  } while (next);
  return out;
}

/** What the network made of one allocated device (KEP-4817's NetworkDeviceData). */
export interface DeviceNetworkData {
  readonly driver: string;
  readonly pool: string;
  readonly device: string;
  readonly interfaceName: string;
  /** CIDR form (`10.0.0.5/24`), at most 16. */
  readonly ips: readonly string[];
  readonly hardwareAddress?: string | undefined;
}

/** The API's limit on networkData.ips. */
export const MAX_NETWORK_IPS = 16;

/**
 * The server-side-apply body that makes manifold's entries of the claim's `status.devices`
 * exactly `entries` (an empty list: manifold owns none any more, its entries go). Each entry
 * carries a `Ready` condition; `now` is its lastTransitionTime.
 */
export function claimStatusApply(
  name: string,
  ns: string,
  entries: readonly DeviceNetworkData[],
  now: Date,
  generation?: number,
): Record<string, unknown> {
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceClaim',
    metadata: { name, namespace: ns },
    status: {
      devices: entries.map((e) => ({
        driver: e.driver,
        pool: e.pool,
        device: e.device,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'NetworkAttached',
            message: `attached as ${e.interfaceName} by manifold`,
            lastTransitionTime: at,
            ...(generation !== undefined ? { observedGeneration: generation } : {}),
          },
        ],
        networkData: {
          interfaceName: e.interfaceName,
          ...(e.ips.length ? { ips: e.ips.slice(0, MAX_NETWORK_IPS) } : {}),
          ...(e.hardwareAddress ? { hardwareAddress: e.hardwareAddress } : {}),
        },
      })),
    },
  };
}

/** Applies manifold's entries of the claim's status.devices (see claimStatusApply); 'gone' when the claim no longer exists. */
export async function applyClaimStatus(
  client: KubeClient,
  ns: string,
  name: string,
  entries: readonly DeviceNetworkData[],
  now = new Date(),
): Promise<'written' | 'gone'> {
  const path = `${claimPath(ns, name)}/status?fieldManager=${DRA_FIELD_MANAGER}`;
  try {
    await client.request(
      'PATCH',
      path,
      claimStatusApply(name, ns, entries, now),
      'application/apply-patch+yaml',
    );
    return 'written';
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    throw err;
  }
}
