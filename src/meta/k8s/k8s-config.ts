/**
 * The meta config's Kubernetes fields that Multus does not have (Multus's own —
 * kubeconfig, namespaceIsolation, globalNamespaces, systemNamespaces, multusNamespace — are in
 * config.ts), with their defaults. Spread into MetaConfSchema so a wrong value is code 7 up
 * front; read only when a call is for a Kubernetes pod.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';

const absolute = z.string().refine((p) => p === '' || isAbsolute(p), { message: 'must be an absolute path' });

export const K8S_FIELDS = {
  /** kubelet's pod-resources gRPC socket (device IDs of SR-IOV and other device-plugin resources). */
  podResourcesSocket: absolute.optional(),
  /** kubelet's device-manager checkpoint, read when the socket cannot be used. */
  kubeletCheckpointFile: absolute.optional(),
  /** The device-info-spec directory (`dp/` written by device plugins, `cni/` by manifold). */
  deviceInfoDir: absolute.optional(),
  /** The most one CNI call spends on the Kubernetes API, every request and retry included. */
  kubeApiTimeoutSeconds: z.number().positive().max(300).optional(),
};

export const DEFAULT_POD_RESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
export const DEFAULT_KUBELET_CHECKPOINT = '/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint';
export const DEFAULT_DEVICE_INFO_DIR = '/var/run/k8s.cni.cncf.io/devinfo';
export const DEFAULT_KUBE_API_TIMEOUT_S = 10;
/** Multus's defaults. */
export const DEFAULT_MULTUS_NAMESPACE = 'kube-system';
export const DEFAULT_SYSTEM_NAMESPACES: readonly string[] = ['kube-system'];
export const DEFAULT_GLOBAL_NAMESPACES: readonly string[] = ['default'];
