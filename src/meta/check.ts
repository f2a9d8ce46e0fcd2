/**
 * The meta-plugin's CHECK: every delegate's CHECK against its own cached result (delegates
 * below 0.4.0 or with disableCheck are skipped, not failed: Multus #737), then what
 * multi-homing put in the pod.
 */
import { CniError, Code, q } from '../cni/errors.ts';
import type { CheckContext } from '../cni/plugin.ts';
import { checkNetwork } from '../invoke/network.ts';
import { log } from '../util/log.ts';
import { type Attached, describe, fromCache, runtimeFor, wrap } from './attachment.ts';
import { readCache } from './cache.ts';
import type { MetaConf } from './config.ts';
import { multihomeCheck } from './multihome/hooks.ts';

function cached(ctx: CheckContext<MetaConf>): Attached[] {
  const cniDir = ctx.conf.cniDirOrDefault;
  const loaded = readCache(cniDir, {
    network: ctx.conf.name,
    containerId: ctx.containerId,
    ifname: ctx.ifname,
  });
  if (loaded.state === 'missing') {
    throw new CniError(
      Code.UnknownContainer,
      `no delegate cache for container ${q(ctx.containerId)} interface ${q(ctx.ifname)} of network ${q(ctx.conf.name)} in ${q(cniDir)}: was it added by manifold?`,
    );
  }
  if (loaded.state === 'unreadable') {
    throw new CniError(Code.IOFailure, `cannot read the delegate cache ${q(loaded.file)}: ${loaded.reason}`);
  }
  try {
    return fromCache(loaded.cache);
  } catch (err) {
    throw new CniError(
      Code.IOFailure,
      `cannot use the delegate cache ${q(loaded.file)}: ${(err as Error).message}`,
    );
  }
}

export async function check(ctx: CheckContext<MetaConf>): Promise<void> {
  const attached = cached(ctx);
  for (const a of attached) {
    if (!a.result) throw wrap(a.delegate, 'CHECK', new CniError(Code.Internal, 'its ADD never completed'));
    try {
      const r = await checkNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a), a.result);
      if (r === 'skipped')
        log.verbose(`CHECK: ${describe(a.delegate)} skipped (disableCheck or cniVersion < 0.4.0)`);
    } catch (err) {
      throw wrap(a.delegate, 'CHECK', err);
    }
  }
  await multihomeCheck(ctx.netns, attached);
}
