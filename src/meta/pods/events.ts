/**
 * Kubernetes Events about the pod, as Multus records them, so `kubectl describe pod` shows
 * what the networks did: after ADD one `Normal` `AddedInterface` per attachment ("Add net1
 * [10.1.2.3/24] from tenant/macvlan-net"); when ADD fails for a reason the pod's owner can
 * fix — a NAD that is missing (`NoNetworkFound`, Multus's reason) or invalid, namespace
 * isolation, a malformed annotation (`InvalidNetworkRequest`) — one `Warning` quoting the error.
 * Best effort: sent once the result is decided, with a budget of their own (the call's may be
 * spent), all at once; a failure is logged and never changes the result.
 */
import { hostname } from 'node:os';
import { CniError, Code } from '../../cni/errors.ts';
import { createPodEvent, type PodEvent } from '../../k8s/api.ts';
import { Budget, KubeClient, type SharedConnection } from '../../k8s/client.ts';
import { ApiError } from '../../k8s/errors.ts';
import type { TargetSource } from '../../k8s/target.ts';
import { log } from '../../util/log.ts';
import type { Attached } from '../attachment.ts';

/** All the events of one call, every request and retry included. */
export const EVENTS_BUDGET_MS = 2000;
export const EVENT_COMPONENT = 'manifold';

type PodRef = PodEvent['pod'];

/** Multus's wording: the attachment's interface, its addresses (Go's %v of a list), its network. */
export function addedInterfaceMessage(a: Attached): string {
  const ips = (a.result?.ips ?? []).map((ip) => ip.address);
  const network = a.delegate.k8s?.statusName ?? a.delegate.network.name;
  return `Add ${a.ifname} [${ips.join(' ')}] from ${network}`;
}

/**
 * The Warning event's reason for an ADD failure the pod's owner can fix, else undefined: a
 * config error (7) that is not the API server refusing manifold's own credentials or RBAC.
 */
export function warningReason(err: unknown): string | undefined {
  if (!(err instanceof CniError) || err.code !== Code.InvalidConfig) return undefined;
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof ApiError) return undefined;
  return /no such NetworkAttachmentDefinition/.test(err.message) ? 'NoNetworkFound' : 'InvalidNetworkRequest';
}

export class PodEvents {
  readonly #source: TargetSource | SharedConnection;
  readonly #pod: PodRef;

  /** `source`: the credentials, or the daemon's kept-alive connection. */
  constructor(source: TargetSource | SharedConnection, pod: PodRef) {
    this.#source = source;
    this.#pod = pod;
  }

  async added(attached: readonly Attached[]): Promise<void> {
    await this.#send(
      attached.map((a) => ({ type: 'Normal', reason: 'AddedInterface', message: addedInterfaceMessage(a) })),
    );
  }

  /** A Warning when the failure is the pod owner's to fix; nothing otherwise. */
  async failed(err: unknown): Promise<void> {
    const reason = warningReason(err);
    if (!reason) return;
    await this.#send([{ type: 'Warning', reason, message: (err as CniError).message }]);
  }

  /** Events of the daemon's own making (hot-plug's AddedInterface, RemovedInterface, Warning), sent as given. */
  async record(events: readonly Pick<PodEvent, 'type' | 'reason' | 'message'>[]): Promise<void> {
    await this.#send(events);
  }

  async #send(events: readonly Pick<PodEvent, 'type' | 'reason' | 'message'>[]): Promise<void> {
    if (events.length === 0) return;
    const started = performance.now();
    const client = new KubeClient(this.#source, new Budget(EVENTS_BUDGET_MS));
    const host = hostname();
    try {
      const outcomes = await Promise.allSettled(
        events.map((e) => createPodEvent(client, { ...e, pod: this.#pod, component: EVENT_COMPONENT, host })),
      );
      const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
      const ref = `${this.#pod.namespace}/${this.#pod.name}`;
      const ms = (performance.now() - started).toFixed(1);
      if (failed.length === 0) log.verbose(`pod ${ref}: ${events.length} event(s) recorded in ${ms} ms`);
      else
        log.info(
          `pod ${ref}: ${failed.length} of ${events.length} event(s) not recorded (best effort, the result stands): ${failed[0] instanceof Error ? failed[0].message : String(failed[0])}`,
        );
    } finally {
      client.close();
    }
  }
}
