/** The meta-plugin's STATUS: can ADD be served — the default network is ready and every delegate says so. */
import { existsSync } from 'node:fs';
import { CniError, Code, q } from '../cni/errors.ts';
import { statusNetwork } from '../invoke/network.ts';
import { type Ctx, runtimeFor, wrap } from './attachment.ts';
import { assignIfnames, delegatesFromConfig } from './delegates.ts';
import { guard } from './guard.ts';

export async function status(ctx: Ctx): Promise<void> {
  const file = ctx.conf.readinessindicatorfile;
  if (file && !existsSync(file)) {
    throw new CniError(
      Code.CannotServeAdd,
      `the default network is not ready: readinessindicatorfile ${q(file)} does not exist`,
    );
  }
  const delegates = delegatesFromConfig(ctx.conf);
  guard(ctx.conf, delegates);
  const ifnames = assignIfnames(delegates, ctx.ifname || 'eth0');
  for (const [i, delegate] of delegates.entries()) {
    try {
      await statusNetwork(
        ctx.invoker,
        delegate.network,
        runtimeFor(ctx, { delegate, ifname: ifnames[i] as string, result: undefined }),
      );
    } catch (err) {
      throw wrap(delegate, 'STATUS', err);
    }
  }
}
