/**
 * The device IDs the device plugins allocated to a pod, per resource, sorted and without
 * duplicates (a stable order, so the same pod always gets the same ID on the same attachment):
 * from kubelet's pod-resources socket when it answers, else from the kubelet checkpoint file.
 */
import { existsSync } from 'node:fs';
import { CniError, Code, describeError, q } from '../cni/errors.ts';
import { log } from '../util/log.ts';
import { checkpointDevices } from './checkpoint.ts';
import { type DeviceMap, podResourcesDevices } from './podresources.ts';

export interface DeviceSources {
  readonly socket: string;
  readonly checkpoint: string;
  readonly timeoutMs: number;
}

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

function normalized(m: DeviceMap): DeviceMap {
  return new Map([...m].map(([r, ids]) => [r, [...new Set(ids)].sort()]));
}

export async function allocatedDevices(
  src: DeviceSources,
  pod: PodRef,
): Promise<{ devices: DeviceMap; from: string }> {
  let socketProblem = 'does not exist';
  if (existsSync(src.socket) && src.timeoutMs > 0) {
    try {
      const r = await podResourcesDevices(src.socket, pod.namespace, pod.name, src.timeoutMs);
      const from = `pod-resources ${r.method} on ${src.socket}`;
      log.info(`pod ${pod.namespace}/${pod.name}: devices from ${from}`);
      return { devices: normalized(r.devices), from };
    } catch (err) {
      socketProblem = describeError(err);
      log.error(`pod-resources ${src.socket}: ${socketProblem}; trying the checkpoint ${src.checkpoint}`);
    }
  }
  try {
    if (!pod.uid) throw new Error('the pod has no uid (CNI_ARGS K8S_POD_UID, metadata.uid)');
    const devices = normalized(checkpointDevices(src.checkpoint, pod.uid));
    log.info(`pod ${pod.namespace}/${pod.name}: devices from the checkpoint ${src.checkpoint}`);
    return { devices, from: `checkpoint ${src.checkpoint}` };
  } catch (err) {
    throw new CniError(
      Code.TryAgainLater,
      `failed to find the devices allocated to pod ${pod.namespace}/${pod.name}: pod-resources socket ${q(src.socket)}: ${socketProblem}; checkpoint ${q(src.checkpoint)}: ${describeError(err)}`,
      'set podResourcesSocket (or kubeletCheckpointFile) to where this node keeps them',
    );
  }
}
