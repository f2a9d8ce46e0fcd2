/**
 * static's dry run (`manifold explain`): static IPAM has no state, so its forecast is what
 * its ADD returns for the config — the same functions, run on the same inputs.
 */
import type { ExplainContext, Explainer, Forecast } from '../../src/cni/explain.ts';
import { loadStatic, staticAdd } from './static.ts';

function origin(ctx: ExplainContext, raw: Record<string, unknown>): string {
  const rc = raw.runtimeConfig as { ips?: unknown[] } | undefined;
  const args = raw.args as { cni?: { ips?: unknown[] } } | undefined;
  if (rc?.ips?.length) return 'static: the "ips" capability (runtimeConfig.ips)';
  if (args?.cni?.ips?.length) return 'static: args.cni.ips';
  return ctx.cniArgs.get('IP')
    ? 'static: the config and CNI_ARGS IP'
    : 'static: ipam.addresses of the config';
}

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const st = loadStatic(ctx.raw, ctx.cniArgs);
    const result = staticAdd(st, ctx.cniVersion);
    return {
      result,
      notes: [],
      sources: (result.ips ?? []).map(() => origin(ctx, ctx.raw)),
      complete: true,
    };
  },
};
