/**
 * Hands out the pod's device-plugin devices to its attachments: for each NAD annotated
 * `k8s.v1.cni.cncf.io/resourceName`, the next unused device ID of that resource, in sorted
 * order (so every attachment gets a distinct one, the same one on a retried ADD). The pod's
 * allocation is read once per call, from kubelet (src/k8s/devices.ts, loaded only then: it
 * brings node:http2).
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { Budget } from '../../k8s/client.ts';
import type { PodRef } from '../../k8s/devices.ts';
import type { DeviceMap } from '../../k8s/podresources.ts';
import { log } from '../../util/log.ts';
import type { MetaConf } from '../config.ts';
import { DEFAULT_KUBELET_CHECKPOINT, DEFAULT_POD_RESOURCES_SOCKET } from '../config.ts';

const KUBELET_TIMEOUT_MS = 5000;

export class DeviceAllocator {
  readonly #conf: MetaConf;
  readonly #pod: PodRef;
  readonly #budget: Budget;
  #loaded: { devices: DeviceMap; from: string } | undefined;
  readonly #used = new Map<string, number>();

  constructor(conf: MetaConf, pod: PodRef, budget: Budget) {
    this.#conf = conf;
    this.#pod = pod;
    this.#budget = budget;
  }

  /** The next device of `resource` for the attachment to network `network` (code 7 when none is left). */
  async take(resource: string, network: string): Promise<string> {
    const { allocatedDevices } = await import(/* webpackMode: "eager" */ '../../k8s/devices.ts');
    this.#loaded ??= await allocatedDevices(
      {
        socket: this.#conf.podResourcesSocket || DEFAULT_POD_RESOURCES_SOCKET,
        checkpoint: this.#conf.kubeletCheckpointFile || DEFAULT_KUBELET_CHECKPOINT,
        timeoutMs: Math.min(KUBELET_TIMEOUT_MS, Math.max(1000, this.#budget.remainingMs())),
      },
      this.#pod,
    );
    const ids = this.#loaded.devices.get(resource) ?? [];
    const n = this.#used.get(resource) ?? 0;
    const id = ids[n];
    if (id === undefined) {
      throw new CniError(
        Code.InvalidConfig,
        `network ${q(network)} needs a device of resource ${q(resource)}, but pod ${this.#pod.namespace}/${this.#pod.name} has ${ids.length} allocated (${this.#loaded.from})${n > 0 ? ` and earlier attachments use ${n === 1 ? 'it' : 'them'}` : ''}`,
        `request one ${resource} per attachment of this network in the pod's resources`,
      );
    }
    this.#used.set(resource, n + 1);
    log.info(
      `pod ${this.#pod.namespace}/${this.#pod.name}: ${network} gets ${resource} device ${id} (${this.#loaded.from})`,
    );
    return id;
  }
}
