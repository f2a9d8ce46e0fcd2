/**
 * Writes the pod's network-status after every delegate's ADD (through pods/status, as
 * Multus, but as one merge patch: no read first): each attachment's result and its
 * device-info file. The pod's uid is the patch's precondition, so another pod of the same
 * name is never written (a static pod's mirror has another uid: none is sent for it). Pods in
 * systemNamespaces get none (as Multus); a pod deleted meanwhile is not an error.
 */

import { isStaticPod, type Pod, patchPodAnnotation } from '../../k8s/api.ts';
import type { KubeClient } from '../../k8s/client.ts';
import { log } from '../../util/log.ts';
import type { Attached } from '../attachment.ts';
import type { MetaConf } from '../config.ts';
import { readDeviceInfo } from '../device-info.ts';
import type { PodIdentity } from '../pod-call.ts';
import { apiCall } from './api-call.ts';
import { isSystemNamespace } from './isolation.ts';
import {
  buildNetworkStatus,
  formatNetworkStatus,
  NETWORK_STATUS_ANNOTATION,
  type StatusPart,
} from './network-status.ts';

export async function publishStatus(
  conf: MetaConf,
  client: KubeClient,
  pod: Pod,
  id: PodIdentity,
  attached: readonly Attached[],
): Promise<void> {
  const ns = pod.metadata.namespace || id.namespace;
  const ref = `${ns}/${pod.metadata.name}`;
  if (isSystemNamespace(conf, ns)) {
    log.verbose(`pod ${ref} is in a system namespace: no network-status`);
    return;
  }
  const parts: StatusPart[] = attached.flatMap((a) =>
    a.result
      ? [
          {
            delegate: a.delegate,
            result: a.result,
            deviceInfo: a.delegate.k8s ? readDeviceInfo(a.delegate.k8s) : undefined,
          },
        ]
      : [],
  );
  const value = formatNetworkStatus(buildNetworkStatus(parts));
  const uid = isStaticPod(pod) ? undefined : id.uid || pod.metadata.uid;
  const outcome = await apiCall(`write the network-status of pod ${ref}`, () =>
    patchPodAnnotation(client, ns, pod.metadata.name, uid, NETWORK_STATUS_ANNOTATION, value),
  );
  if (outcome === 'gone') log.info(`pod ${ref} is gone: its network-status was not written`);
  else log.verbose(`pod ${ref}: network-status written (${parts.length} attachment(s))`);
}
