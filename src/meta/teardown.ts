/**
 * Deleting attachments — for DEL, for GC of stale ones, and for the rollback of a failed ADD:
 * every delegate in reverse, each attempted whatever happened to the others, every failure
 * kept, none thrown.
 *
 * Failures are sorted by whether retrying can help. Transient ones (a lock held: 11, I/O: 5,
 * a kernel or plugin failure: 999 and plugin codes) are what DEL reports, so the runtime
 * calls it again and nothing leaks. Permanent ones — the delegate's config is invalid (7),
 * undecodable (6), of an unsupported version (1), names an unsupported field (2), the
 * container or netns is unknown (3, 8), its plugin is not installed, or it fails the way its
 * ADD failed (a config its plugin cannot load, not always said with code 7) — can never succeed:
 * reporting them would leave the pod Terminating forever. For those, manifold does what it
 * can itself — DEL of the delegate's IPAM with its config (addresses released by container id
 * and interface name) and removal of its pod interface by name when it is a virtual one — and
 * logs what stays; DEL then succeeds. A nested manifold delegate is never run.
 */

import { withPodIfPresent } from '../attach/pod.ts';
import { CniError, Code, q } from '../cni/errors.ts';
import { PluginNotFoundError } from '../invoke/exec.ts';
import { delNetwork, ipamDelNetwork } from '../invoke/network.ts';
import * as link from '../kernel/link.ts';
import { batchRemovals } from '../kernel/removals.ts';
import { log } from '../util/log.ts';
import { type Attached, type Ctx, describe, runtimeFor, wrap } from './attachment.ts';
import { removeDeviceInfo } from './device-info.ts';
import { isNested } from './guard.ts';
import { multihomeDel } from './multihome/hooks.ts';

export interface Teardown {
  /** Retrying may help: report them. */
  readonly transient: CniError[];
  /** Retrying cannot help: logged, and done around as far as possible. */
  readonly permanent: CniError[];
}

const PERMANENT_CODES: ReadonlySet<number> = new Set([
  Code.IncompatibleVersion,
  Code.UnsupportedField,
  Code.UnknownContainer,
  Code.InvalidEnvironment,
  Code.DecodingFailure,
  Code.InvalidConfig,
  Code.InvalidNetNS,
]);

/** Whether retrying the same call can never help. */
export function isPermanent(err: unknown): boolean {
  if (!(err instanceof CniError)) return false;
  return PERMANENT_CODES.has(err.code) || err instanceof PluginNotFoundError;
}

/** Kinds of pod interface manifold may delete by name for a delegate that cannot (never a physical one). */
const VIRTUAL = new Set([
  'veth',
  'macvlan',
  'macvtap',
  'ipvlan',
  'ipvtap',
  'vxlan',
  'vlan',
  'dummy',
  'bridge',
]);

async function removeByName(netns: string, ifname: string): Promise<void> {
  await withPodIfPresent(netns, async (pod) => {
    const l = await link.byName(pod.rtnl, ifname);
    if (!l) return;
    if (!l.kind || !VIRTUAL.has(l.kind)) {
      log.error(`DEL: ${q(ifname)} in ${pod.path} is a ${l.kind ?? 'device'}: left for its plugin`);
      return;
    }
    await link.remove(pod.rtnl, l.index, `${l.kind} ${q(ifname)}`);
  });
}

/** What manifold itself can do for a delegate whose DEL can never succeed; transient failures are returned. */
async function workAround(ctx: Ctx, a: Attached, netns: string, containerId: string): Promise<CniError[]> {
  const rt = runtimeFor(ctx, a, netns, containerId);
  const errors = (await ipamDelNetwork(ctx.invoker, a.delegate.network, rt)).map((e) =>
    wrap(a.delegate, 'IPAM DEL', e),
  );
  try {
    await removeByName(netns, a.ifname);
  } catch (err) {
    errors.push(wrap(a.delegate, `removal of ${q(a.ifname)}`, err));
  }
  return errors.filter((e) => !isPermanent(e.cause));
}

/**
 * Whether a DEL failure can never go away: a permanent code, or — for a delegate whose ADD
 * failed — the very error its ADD failed with (a config its plugin cannot even load; plugins
 * do not always say so with code 7).
 */
function cannotSucceed(err: unknown, a: Attached): boolean {
  if (isPermanent(err)) return true;
  return a.addError !== undefined && err instanceof Error && err.message === a.addError;
}

async function deleteOne(
  ctx: Ctx,
  a: Attached,
  netns: string,
  containerId: string,
  out: Teardown,
): Promise<void> {
  if (isNested(a.delegate)) {
    const why = `${describe(a.delegate)} not run: a nested manifold delegate is refused`;
    out.permanent.push(new CniError(Code.InvalidConfig, why));
    return;
  }
  try {
    await delNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a, netns, containerId), a.result);
  } catch (err) {
    const e = wrap(a.delegate, 'DEL', err);
    if (!cannotSucceed(err, a)) {
      out.transient.push(e);
      return;
    }
    out.permanent.push(e);
    out.transient.push(...(await workAround(ctx, a, netns, containerId)));
  } finally {
    removeDeviceInfo(a.delegate.k8s);
  }
}

/**
 * DEL of every attachment in reverse; nothing is thrown, everything is attempted. The pod
 * links the built-ins remove are deleted together at the end, one request per namespace
 * (kernel/removals.ts: one RCU grace period for all instead of one per link); a link that
 * could not be deleted then is a transient failure, so the runtime's next DEL retries it.
 */
export async function deleteAll(
  ctx: Ctx,
  attached: readonly Attached[],
  netns: string,
  containerId: string,
): Promise<Teardown> {
  const out: Teardown = { transient: [], permanent: [] };
  await multihomeDel(netns, attached);
  const { failures } = await batchRemovals(async () => {
    for (const a of [...attached].reverse()) await deleteOne(ctx, a, netns, containerId, out);
  });
  out.transient.push(...failures);
  for (const e of out.permanent) {
    log.error(
      `DEL ${containerId}: ${e.message} (cannot succeed by retrying: not reported; IPAM released for it)`,
    );
  }
  return out;
}
