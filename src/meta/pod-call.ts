/**
 * A call for a Kubernetes pod, as the core and pods/ both see it: who the pod is (from the
 * config and CNI_ARGS, no API call), and what pods/ hands back for it (PodNetworks). Cheap:
 * it loads no Kubernetes code; kubernetes.ts loads pods/ only when podIdentityOf finds a pod.
 */
import type { PluginContext } from '../cni/plugin.ts';
import type { Result } from '../cni/result.ts';
import { log } from '../util/log.ts';
import type { Attached } from './attachment.ts';
import type { MetaConf } from './config.ts';
import type { Delegate } from './delegates.ts';

export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  /** K8S_POD_UID; may be empty (older runtimes). */
  readonly uid: string;
  readonly infraContainerId: string;
}

export interface PodNetworks {
  /** The pod's delegates, master first. */
  readonly delegates: Delegate[];
  /** Set when the pod no longer exists: Multus's answer, returned without attaching anything. */
  readonly gone?: Result;
  /** Writes the pod's network-status (after every delegate's ADD), then records the Events. */
  publish(attached: readonly Attached[]): Promise<void>;
  /** ADD failed after the delegates were resolved: a Warning Event when the pod's owner can fix it. */
  failed(err: unknown): Promise<void>;
}

/**
 * The pod a call is for, or undefined: the config has `kubeconfig`, or the process runs in a
 * pod (KUBERNETES_SERVICE_HOST/PORT), or the host running the call (the daemon) has a
 * Kubernetes view of its own; and CNI_ARGS name the pod.
 */
export function podIdentityOf(ctx: PluginContext<MetaConf>): PodIdentity | undefined {
  const inCluster = !!ctx.env.KUBERNETES_SERVICE_HOST && !!ctx.env.KUBERNETES_SERVICE_PORT;
  if (!ctx.conf.kubeconfig && !inCluster && !ctx.host?.kube) return undefined;
  const namespace = ctx.cniArgs.get('K8S_POD_NAMESPACE') ?? '';
  const name = ctx.cniArgs.get('K8S_POD_NAME') ?? '';
  if (!namespace || !name) {
    log.verbose(
      'no K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS: not a Kubernetes pod, using the configured delegates',
    );
    return undefined;
  }
  return {
    namespace,
    name,
    uid: ctx.cniArgs.get('K8S_POD_UID') ?? '',
    infraContainerId: ctx.cniArgs.get('K8S_POD_INFRA_CONTAINER_ID') ?? '',
  };
}
