/**
 * The meta config's Kubernetes fields that Multus does not have (Multus's own —
 * kubeconfig, namespaceIsolation, globalNamespaces, systemNamespaces, multusNamespace — are in
 * config.ts), with their defaults. Spread into MetaConfSchema so a wrong value is code 7 up
 * front; read only when a call is for a Kubernetes pod.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';

const absolute = z
  .string()
  .check(z.refine((p) => p === '' || isAbsolute(p), { message: 'must be an absolute path' }));

export const K8S_FIELDS = {
  /** kubelet's pod-resources gRPC socket (device IDs of SR-IOV and other device-plugin resources). */
  podResourcesSocket: z.optional(absolute),
  /** kubelet's device-manager checkpoint, read when the socket cannot be used. */
  kubeletCheckpointFile: z.optional(absolute),
  /** The device-info-spec directory (`dp/` written by device plugins, `cni/` by manifold). */
  deviceInfoDir: z.optional(absolute),
  /** The most one CNI call spends on the Kubernetes API, every request and retry included. */
  kubeApiTimeoutSeconds: z.optional(z.number().check(z.positive(), z.maximum(300))),
};

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
export const DEFAULT_KUBELET_CHECKPOINT = '/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint';
export const DEFAULT_DEVICE_INFO_DIR = '/var/run/k8s.cni.cncf.io/devinfo';
export const DEFAULT_KUBE_API_TIMEOUT_S = 10;
/** Multus's defaults. */
export const DEFAULT_MULTUS_NAMESPACE = 'kube-system';
export const DEFAULT_SYSTEM_NAMESPACES: readonly string[] = ['kube-system'];
export const DEFAULT_GLOBAL_NAMESPACES: readonly string[] = ['default'];
