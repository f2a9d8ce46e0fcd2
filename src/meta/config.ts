/**
 * The meta-plugin's config: Multus's thin-plugin field names, so a Multus user changes only
 * `type`. Unknown fields are ignored. Kubernetes fields (kubeconfig, namespaceIsolation, …,
 * and manifold's own: podResourcesSocket, deviceInfoDir, …) are checked here, so a wrong value
 * is code 7 up front, and read only by pods/ when a call is for a Kubernetes pod.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { invalidConfig } from '../cni/errors.ts';
import { NetConfSchema } from '../cni/netconf.ts';
import { parseWith } from '../cni/validate.ts';
import { IMPLICIT_VERSION } from '../cni/versions.ts';
import { MultihomeShape } from './multihome/options.ts';

export const DEFAULT_CONF_DIR = '/etc/cni/manifold/net.d';
export const DEFAULT_CNI_DIR = '/var/lib/cni/manifold';
export const DEFAULT_READINESS_TIMEOUT_S = 45;
/** Defaults of the Kubernetes fields (pods/ reads them). */
export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
export const DEFAULT_KUBELET_CHECKPOINT = '/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint';
export const DEFAULT_DEVICE_INFO_DIR = '/var/run/k8s.cni.cncf.io/devinfo';
export const DEFAULT_KUBE_API_TIMEOUT_S = 10;
/** Multus's defaults. */
export const DEFAULT_MULTUS_NAMESPACE = 'kube-system';
export const DEFAULT_SYSTEM_NAMESPACES: readonly string[] = ['kube-system'];
export const DEFAULT_GLOBAL_NAMESPACES: readonly string[] = ['default'];

const absolute = z
  .string()
  .check(z.refine((p) => p === '' || isAbsolute(p), { message: 'must be an absolute path' }));

export const MetaConfSchema = z.extend(NetConfSchema, {
  delegates: z.optional(z.array(z.looseObject({}))),
  clusterNetwork: z.optional(z.string()),
  defaultNetworks: z.optional(z.array(z.string())),
  confDir: z.optional(absolute),
  cniDir: z.optional(absolute),
  binDir: z.optional(absolute),
  kubeconfig: z.optional(z.string()),
  readinessindicatorfile: z.optional(z.string()),
  /** manifold extension: how long ADD waits for the readiness file (Multus: 45 s, fixed). */
  readinessTimeoutSeconds: z.optional(z.number().check(z.positive(), z.maximum(3600))),
  namespaceIsolation: z.optional(z.boolean()),
  globalNamespaces: z.optional(z.string()),
  systemNamespaces: z.optional(z.array(z.string())),
  multusNamespace: z.optional(z.string()),
  logFile: z.optional(z.string()),
  logLevel: z.optional(z.enum(['panic', 'error', 'info', 'verbose', 'debug', ''])),
  logToStderr: z.optional(z.boolean()),
  /** manifold: one JSON line per event (default), or text for people. */
  logFormat: z.optional(z.enum(['json', 'text'])),
  /** manifold: kubelet's pod-resources gRPC socket (device IDs of SR-IOV and other device-plugin resources). */
  podResourcesSocket: z.optional(absolute),
  /** manifold: kubelet's device-manager checkpoint, read when the socket cannot be used. */
  kubeletCheckpointFile: z.optional(absolute),
  /** manifold: the device-info-spec directory (`dp/` written by device plugins, `cni/` by manifold). */
  deviceInfoDir: z.optional(absolute),
  /** manifold: the most one CNI call spends on the Kubernetes API, every request and retry included. */
  kubeApiTimeoutSeconds: z.optional(z.number().check(z.positive(), z.maximum(300))),
  /** manifold extension: multi-homing (docs/multihoming.md), every option off by default. */
  ...MultihomeShape,
});

export interface MetaConf extends z.output<typeof MetaConfSchema> {
  /** The config's cniVersion; none (or "") is 0.1.0. Delegates without one inherit it. */
  readonly effectiveVersion: string;
  readonly confDirOrDefault: string;
  readonly cniDirOrDefault: string;
}

export function parseMetaConf(raw: Record<string, unknown>): MetaConf {
  const conf = parseWith(MetaConfSchema, raw);
  if (conf.delegates?.length && conf.clusterNetwork) {
    throw invalidConfig('clusterNetwork', 'cannot be combined with delegates: give one or the other');
  }
  if (!conf.delegates?.length && !conf.clusterNetwork) {
    throw invalidConfig(
      'delegates',
      'no network to attach: give delegates, or clusterNetwork (and defaultNetworks)',
    );
  }
  if (conf.defaultNetworks?.length && !conf.clusterNetwork) {
    throw invalidConfig('defaultNetworks', 'needs clusterNetwork');
  }
  return {
    ...conf,
    effectiveVersion: conf.cniVersion || IMPLICIT_VERSION,
    confDirOrDefault: conf.confDir || DEFAULT_CONF_DIR,
    cniDirOrDefault: conf.cniDir || DEFAULT_CNI_DIR,
  };
}
