/**
 * GET of an apps/v1 DaemonSet, for `uninstall --if-daemonset-deleted`: preStop removes the
 * node's config only when manifold's DaemonSet itself is going away (404, or
 * metadata.deletionTimestamp set), not on every restart or rolling update.
 */
import * as z from 'zod/mini';
import type { KubeClient } from './client.ts';
import { ApiError, isNotFound } from './errors.ts';

const DaemonSetSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), deletionTimestamp: z.nullish(z.string()) }),
});

export type DaemonSetState = 'present' | 'deleting' | 'gone';

export async function daemonSetState(client: KubeClient, ns: string, name: string): Promise<DaemonSetState> {
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/daemonsets/${encodeURIComponent(name)}`;
  let body: unknown;
  try {
    body = await client.request('GET', path);
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    throw err;
  }
  const r = DaemonSetSchema.safeParse(body);
  if (!r.success) throw new ApiError(200, 'Invalid', 'the API server sent a malformed DaemonSet');
  return r.data.metadata.deletionTimestamp ? 'deleting' : 'present';
}
