/**
 * The core's one way into pods/, kept cheap: whether a call is for a Kubernetes pod
 * (pod-call.ts), and only then the lazy load of the code that reads the pod, its annotations
 * and NADs (pods/pod-networks.ts: the API client, YAML, gRPC). Calls for configs without
 * Kubernetes load none of it. The core calls nothing else of pods/ (test/unit/layers.test.ts).
 */
import type { PluginContext } from '../cni/plugin.ts';
import { log } from '../util/log.ts';
import type { MetaConf } from './config.ts';
import type { Delegate } from './delegates.ts';
import { type PodNetworks, podIdentityOf } from './pod-call.ts';

/** The pod's networks when the call is for a Kubernetes pod, else undefined (the config's delegates apply). */
export async function podNetworks(ctx: PluginContext<MetaConf>): Promise<PodNetworks | undefined> {
  const id = podIdentityOf(ctx);
  if (!id) return undefined;
  const started = performance.now();
  const { resolvePodNetworks } = await import(/* webpackMode: "eager" */ './pods/pod-networks.ts');
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
  const { resolvePodNetworks } = await import(/* webpackMode: "eager" */ './pods/pod-networks.ts');
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

/**
 * After a DEL: manifold's network data is removed from the ResourceClaims whose devices backed
 * these attachments (loads pods/ only when one did). Never throws.
 */
export async function releaseClaimDevices(
  ctx: PluginContext<MetaConf>,
  attached: readonly { readonly delegate: Delegate }[],
): Promise<void> {
  if (!attached.some((a) => a.delegate.k8s?.draDevice)) return;
  const { releaseDraDevices } = await import(/* webpackMode: "eager" */ './pods/pod-networks.ts');
  await releaseDraDevices(ctx, attached);
}
