/**
 * The meta-plugin's way into Kubernetes, kept cheap: whether a call is for a Kubernetes pod
 * (the config has `kubeconfig`, or the process runs in a pod with KUBERNETES_SERVICE_HOST/
 * PORT, and CNI_ARGS name the pod), and only then the lazy load of the code that reads the
 * pod, its annotations and NADs (pod-networks.ts: the API client, YAML, gRPC). Calls for
 * configs without Kubernetes load none of it.
 */
import type { PluginContext } from '../../cni/plugin.ts';
import type { Result } from '../../cni/result.ts';
import { log } from '../../util/log.ts';
import type { MetaConf } from '../config.ts';
import type { Delegate } from '../delegates.ts';

export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  /** K8S_POD_UID; may be empty (older runtimes). */
  readonly uid: string;
  readonly infraContainerId: string;
}

/** One attachment as ADD ran it. */
export interface Attached {
  readonly delegate: Delegate;
  readonly ifname: string;
  readonly result: Result | undefined;
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

export function podIdentityOf(ctx: PluginContext<MetaConf>): PodIdentity | undefined {
  const inCluster = !!ctx.env.KUBERNETES_SERVICE_HOST && !!ctx.env.KUBERNETES_SERVICE_PORT;
  if (!ctx.conf.kubeconfig && !inCluster) return undefined;
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

/** The pod's networks when the call is for a Kubernetes pod, else undefined (the config's delegates apply). */
export async function podNetworks(ctx: PluginContext<MetaConf>): Promise<PodNetworks | undefined> {
  const id = podIdentityOf(ctx);
  if (!id) return undefined;
  const started = performance.now();
  const { resolvePodNetworks } = await import(/* webpackMode: "eager" */ './pod-networks.ts');
  log.verbose(`Kubernetes code loaded in ${(performance.now() - started).toFixed(1)} ms`);
  const pod = await resolvePodNetworks(ctx, id);
  log.verbose(
    `pod ${id.namespace}/${id.name}: ${pod.delegates.length} delegate(s) resolved in ${(performance.now() - started).toFixed(1)} ms`,
  );
  return pod;
}

/**
 * For a DEL whose cache cannot be read: the pod's delegates re-read as ADD made them (its
 * annotations from the runtime or the API, its NADs), so every attachment's IPAM is
 * released, as Multus does. Undefined when that cannot be known (not a Kubernetes pod, the
 * API down, the pod gone and no annotations from the runtime): DEL then works from the config
 * alone, and says what may be left.
 */
export async function podDelegatesForDel(ctx: PluginContext<MetaConf>): Promise<Delegate[] | undefined> {
  const id = podIdentityOf(ctx);
  if (!id) return undefined;
  const { resolvePodNetworks } = await import(/* webpackMode: "eager" */ './pod-networks.ts');
  try {
    const pod = await resolvePodNetworks(ctx, id, { forDel: true });
    await pod.failed(undefined); // closes its connection; no event for a DEL
    if (pod.gone) {
      log.error(
        `DEL ${ctx.containerId}: pod ${id.namespace}/${id.name} is gone and the runtime passed no annotations: its NetworkAttachmentDefinition attachments cannot be known, their addresses may stay reserved`,
      );
      return undefined;
    }
    return pod.delegates;
  } catch (err) {
    log.error(
      `DEL ${ctx.containerId}: the pod's networks could not be re-read (${(err as Error).message}): deleting the configured delegates only; its NetworkAttachmentDefinition attachments may leave addresses reserved`,
    );
    return undefined;
  }
}
