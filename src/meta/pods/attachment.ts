/**
 * What one pod attachment adds to its delegate, Multus-style: the annotation's ips, mac,
 * portMappings, bandwidth, infiniband-guid and deviceID as capability arguments (runtimeConfig
 * for the plugins that declare the capability), ips and mac also as CNI_ARGS `IP=`/`MAC=`,
 * `cni-args` merged into `args.cni`, and a device-plugin device ID written into the config as
 * `deviceID` (and `pciBusID`). Kept in the delegate cache, so DEL and CHECK get the same.
 */
import * as z from 'zod/mini';
import type { Delegate } from '../delegates.ts';

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
}

type Raw = Record<string, unknown>;

function eachPlugin(raw: Readonly<Raw>, edit: (plugin: Raw) => Raw): Raw {
  if (Array.isArray(raw.plugins)) {
    return {
      ...raw,
      plugins: raw.plugins.map((p) => (p && typeof p === 'object' ? edit({ ...(p as Raw) }) : p)),
    };
  }
  return edit({ ...raw });
}

/** The network config with a device ID and `cni-args` put in the conf, or in every plugin of a conflist. */
export function injectIntoNetwork(
  raw: Readonly<Raw>,
  deviceID: string | undefined,
  cniArgs: Readonly<Record<string, unknown>> | undefined,
): Raw {
  return eachPlugin(raw, (p) => {
    if (deviceID) {
      p.deviceID = deviceID;
      p.pciBusID = deviceID;
    }
    if (cniArgs) {
      const args =
        p.args && typeof p.args === 'object' && !Array.isArray(p.args) ? { ...(p.args as Raw) } : {};
      const cni =
        args.cni && typeof args.cni === 'object' && !Array.isArray(args.cni) ? (args.cni as Raw) : {};
      args.cni = { ...cni, ...cniArgs };
      p.args = args;
    }
    return p;
  });
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
  d: Delegate,
): Readonly<Record<string, unknown>> {
  const rc = runtimeConfig ?? {};
  const base = d.master
    ? rc
    : Object.fromEntries(POD_WIDE_CAPABILITIES.filter((k) => rc[k] !== undefined).map((k) => [k, rc[k]]));
  return d.k8s ? { ...base, ...d.k8s.capabilityArgs } : base;
}

/** CNI_ARGS for a delegate: the call's, with the attachment's `IP=`/`MAC=` replacing any of the same key. */
export function cniArgsFor(args: ReadonlyMap<string, string>, d: Delegate): [string, string][] {
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
});

/** The `k8s` field of a cached delegate entry, back as a delegate field (nothing when absent or unreadable). */
export function attachmentFromCache(value: unknown): { k8s?: PodAttachment } {
  if (value === undefined) return {};
  const r = CachedSchema.safeParse(value);
  return r.success ? { k8s: r.data } : {};
}
