/**
 * What one pod attachment adds to its delegate, Multus-style, as every verb of the core uses
 * it: the annotation's ips, mac, portMappings, bandwidth, infiniband-guid and deviceID as
 * capability arguments (runtimeConfig for the plugins that declare the capability), ips and
 * mac also as CNI_ARGS `IP=`/`MAC=`. Kept in the delegate cache (its `k8s` field), so DEL and
 * CHECK get the same. Built by pods/nad-delegate.ts (which also writes `cni-args` and the
 * device ID into the delegate's config); the core needs no Kubernetes code to use it.
 */
import * as z from 'zod/mini';

/** A device of a DRA ResourceClaim backing an attachment (its network data is written back to the claim). */
export interface DraDeviceRef {
  /** The claim's namespace and name. */
  readonly namespace: string;
  readonly claim: string;
  readonly driver: string;
  readonly pool: string;
  readonly device: string;
}

export interface PodAttachment {
  /** The network-status name: `<namespace>/<nad>`, or the network's name for a config delegate. */
  readonly statusName: string;
  /** Capability arguments of this attachment (only declared capabilities reach a plugin). */
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  /** CNI_ARGS this attachment adds (`IP=`, `MAC=`). */
  readonly cniArgs: readonly (readonly [string, string])[];
  /** The NAD's `k8s.v1.cni.cncf.io/resourceName`. */
  readonly resourceName?: string | undefined;
  readonly deviceID?: string | undefined;
  /** The CNI device-info file (device-info-spec 4.2): written before ADD, removed on DEL. */
  readonly deviceInfoFile?: string | undefined;
  /** The device plugin's device-info file copied into deviceInfoFile. */
  readonly deviceInfoSource?: string | undefined;
  /** For a device without a device plugin's file (a DRA device): deviceInfoFile's content. */
  readonly deviceInfoContent?: Readonly<Record<string, unknown>> | undefined;
  /** The DRA claim device behind deviceID, when it came from a claim. */
  readonly draDevice?: DraDeviceRef | undefined;
}

/** What the two functions below read of a delegate (not the Delegate type: delegates.ts imports this file). */
interface Holder {
  readonly master: boolean;
  readonly k8s?: PodAttachment | undefined;
}

/**
 * Capability arguments of the runtime that describe the whole pod, not its cluster-network
 * interface: every delegate that declares one gets it. (`portMappings`, `bandwidth`,
 * `ipRanges`, `dns`, `ips`, `mac`… are about the cluster network's interface and address:
 * the master's alone, as in Multus.)
 */
export const POD_WIDE_CAPABILITIES: readonly string[] = ['cgroupPath', 'io.kubernetes.cri.pod-annotations'];

/** The runtime's capability arguments go to the master, the pod-wide ones to every delegate; an attachment's own on top. */
export function capabilityArgsFor(
  runtimeConfig: Readonly<Record<string, unknown>> | undefined,
  d: Holder,
): Readonly<Record<string, unknown>> {
  const rc = runtimeConfig ?? {};
  const base = d.master
    ? rc
    : Object.fromEntries(POD_WIDE_CAPABILITIES.filter((k) => rc[k] !== undefined).map((k) => [k, rc[k]]));
  return d.k8s ? { ...base, ...d.k8s.capabilityArgs } : base;
}

/** CNI_ARGS for a delegate: the call's, with the attachment's `IP=`/`MAC=` replacing any of the same key. */
export function cniArgsFor(args: ReadonlyMap<string, string>, d: Holder): [string, string][] {
  if (!d.k8s?.cniArgs.length) return [...args.entries()];
  const out = new Map(args);
  if (!out.has('IgnoreUnknown')) out.set('IgnoreUnknown', '1');
  for (const [k, v] of d.k8s.cniArgs) out.set(k, v);
  return [...out.entries()];
}

const CachedSchema = z.looseObject({
  statusName: z.string(),
  capabilityArgs: z.record(z.string(), z.unknown()),
  cniArgs: z.array(z.tuple([z.string(), z.string()])),
  resourceName: z.optional(z.string()),
  deviceID: z.optional(z.string()),
  deviceInfoFile: z.optional(z.string()),
  deviceInfoSource: z.optional(z.string()),
  deviceInfoContent: z.optional(z.record(z.string(), z.unknown())),
  draDevice: z.optional(
    z.object({
      namespace: z.string(),
      claim: z.string(),
      driver: z.string(),
      pool: z.string(),
      device: z.string(),
    }),
  ),
});

/** The `k8s` field of a cached delegate entry, back as a delegate field (nothing when absent or unreadable). */
export function attachmentFromCache(value: unknown): { k8s?: PodAttachment } {
  if (value === undefined) return {};
  const r = CachedSchema.safeParse(value);
  return r.success ? { k8s: r.data } : {};
}
