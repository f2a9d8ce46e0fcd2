/**
 * kubelet's device-manager checkpoint (`kubelet_internal_checkpoint`, JSON): the fallback
 * when the pod-resources socket cannot be used. Entries are keyed by pod UID; `DeviceIDs` is
 * a map NUMA node → IDs since Kubernetes 1.20 and a plain list before; both are read.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import type { DeviceMap } from './podresources.ts';

const EntrySchema = z.looseObject({
  PodUID: z.string(),
  ResourceName: z.string(),
  DeviceIDs: z.nullish(z.union([z.array(z.string()), z.record(z.string(), z.nullable(z.array(z.string())))])),
});
const CheckpointSchema = z.looseObject({
  Data: z.looseObject({ PodDeviceEntries: z.nullish(z.array(EntrySchema)) }),
});

/** The devices of the pod with `uid` (throws when the file cannot be read or is not a checkpoint). */
export function checkpointDevices(file: string, uid: string): DeviceMap {
  const parsed = CheckpointSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error('not a kubelet device-manager checkpoint');
  const out: DeviceMap = new Map();
  for (const e of parsed.data.Data.PodDeviceEntries ?? []) {
    if (e.PodUID !== uid) continue;
    const ids = Array.isArray(e.DeviceIDs)
      ? e.DeviceIDs
      : Object.values(e.DeviceIDs ?? {}).flatMap((v) => v ?? []);
    out.set(e.ResourceName, [...(out.get(e.ResourceName) ?? []), ...ids]);
  }
  return out;
}
