/**
 * What the network made of a pod's DRA devices, written back to their ResourceClaims
 * (KEP-4817): after ADD, each claim's `status.devices` gets manifold's entry per attachment it
 * backs (interface name, CIDRs, MAC, a Ready condition), by server-side apply so a driver's
 * own entries stay; DEL applies an empty list, which removes manifold's entries only.
 *
 * The write never fails or blocks a call: in the daemon it runs after the call has answered,
 * its retries (5xx, 429, no answer) with the client's backoff within WRITE_BUDGET_MS; one-shot
 * has no "after" (the process exits), so there the write is awaited, bounded by
 * ONE_SHOT_BUDGET_MS, and its failure only logged. A refusal (403: RBAC without
 * resourceclaims/status or resourceclaims/driver) is one clear log line; the daemon counts
 * these writes by outcome (manifold_dra_status_writes_total, src/daemon/kube.ts).
 * Writes to one claim are kept in order (an ADD's write still retrying is not overtaken by
 * its DEL's): a chain per claim, dropped once idle.
 */
import { describeError } from '../../cni/errors.ts';
import type { Result } from '../../cni/result.ts';
import { Budget, KubeClient, type SharedConnection } from '../../k8s/client.ts';
import { applyClaimStatus, type DeviceNetworkData, MAX_NETWORK_IPS } from '../../k8s/dra.ts';
import { ApiError } from '../../k8s/errors.ts';
import type { TargetSource } from '../../k8s/target.ts';
import { log } from '../../util/log.ts';
import type { DraDeviceRef } from '../pod-attachment.ts';

/** The daemon's write, retries included. */
export const WRITE_BUDGET_MS = 20_000;
/** One-shot: what an ADD or DEL may spend on it before it exits. */
export const ONE_SHOT_BUDGET_MS = 2_000;

/** An attachment as the write-back sees it. */
export interface DraAttachment {
  readonly ifname: string;
  readonly result: Result | undefined;
  readonly draDevice: DraDeviceRef | undefined;
}

/** The interface's network data from its delegate's result: the pod interface named ifname, its CIDRs and MAC. */
export function networkDataOf(a: DraAttachment): DeviceNetworkData | undefined {
  const d = a.draDevice;
  if (!d) return undefined;
  const ifaces = a.result?.interfaces ?? [];
  let idx = ifaces.findIndex((i) => i.name === a.ifname && i.sandbox);
  if (idx < 0) idx = ifaces.findIndex((i) => i.sandbox);
  const ips = (a.result?.ips ?? [])
    .filter((ip) => ip.interface === undefined || idx < 0 || ip.interface === idx)
    .map((ip) => ip.address)
    .slice(0, MAX_NETWORK_IPS);
  return {
    driver: d.driver,
    pool: d.pool,
    device: d.device,
    interfaceName: a.ifname,
    ips,
    hardwareAddress: idx >= 0 ? ifaces[idx]?.mac : undefined,
  };
}

/** The entries per claim (`namespace/name`), in attachment order. */
export function entriesByClaim(attached: readonly DraAttachment[]): Map<string, DeviceNetworkData[]> {
  const out = new Map<string, DeviceNetworkData[]>();
  for (const a of attached) {
    const e = networkDataOf(a);
    if (!e || !a.draDevice) continue;
    const k = `${a.draDevice.namespace}/${a.draDevice.claim}`;
    out.set(k, [...(out.get(k) ?? []), e]);
  }
  return out;
}

const chains = new Map<string, Promise<void>>();

function inOrder(claim: string, write: () => Promise<void>): Promise<void> {
  const prev = chains.get(claim) ?? Promise.resolve();
  const next = prev.then(write);
  chains.set(claim, next);
  void next.finally(() => {
    if (chains.get(claim) === next) chains.delete(claim);
  });
  return next;
}

function why(err: unknown): string {
  if (err instanceof ApiError && err.status === 403) {
    return `the API server refused it (403 Forbidden: ${err.message}): manifold's RBAC needs patch on resourceclaims/status and associated-node:patch on resourceclaims/driver (deploy/rbac.yaml)`;
  }
  if (err instanceof ApiError) return `${err.message} (HTTP ${err.status})`;
  return describeError(err);
}

async function writeOne(
  source: TargetSource | SharedConnection,
  claim: string,
  entries: readonly DeviceNetworkData[],
  budgetMs: number,
  what: string,
): Promise<void> {
  const [ns = '', name = ''] = claim.split('/');
  const client = new KubeClient(source, new Budget(budgetMs));
  const started = performance.now();
  try {
    const r = await applyClaimStatus(client, ns, name, entries);
    const ms = (performance.now() - started).toFixed(0);
    if (r === 'gone') log.info(`ResourceClaim ${claim}: gone, its network data not ${what}`);
    else
      log.info(
        `ResourceClaim ${claim}: network data ${what} (${entries.map((e) => `${e.device} as ${e.interfaceName}`).join(', ') || "manifold's entries removed"}) in ${ms} ms`,
      );
  } catch (err) {
    log.error(`ResourceClaim ${claim}: its status.devices network data could not be ${what}: ${why(err)}`);
  } finally {
    client.close();
  }
}

/**
 * Writes (entries) or clears (empty lists) manifold's entries of each claim. `detached`: the
 * daemon's way, the returned promise settles at once and the writes go on; else awaited,
 * bounded by ONE_SHOT_BUDGET_MS. Never rejects.
 */
export async function writeClaimStatuses(
  source: TargetSource | SharedConnection,
  perClaim: ReadonlyMap<string, readonly DeviceNetworkData[]>,
  detached: boolean,
): Promise<void> {
  const writes = [...perClaim].map(([claim, entries]) =>
    inOrder(claim, () =>
      writeOne(
        source,
        claim,
        entries,
        detached ? WRITE_BUDGET_MS : ONE_SHOT_BUDGET_MS,
        entries.length ? 'written' : 'removed',
      ),
    ),
  );
  if (!detached) await Promise.all(writes);
}
