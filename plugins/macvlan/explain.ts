/**
 * macvlan's dry run (`manifold explain`): the pod interface ADD would make — a macvlan of the
 * master in the configured mode, created in the pod under a temporary name and renamed — with
 * the addresses, routes and DNS its IPAM would give, from the plugin's own config parser.
 */

import { q } from '../../src/cni/errors.ts';
import {
  type ExplainContext,
  type Explainer,
  type Forecast,
  linkForecast,
  podL3,
} from '../../src/cni/explain.ts';
import { parseMacvlanConf } from './config.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseMacvlanConf(ctx.raw, ctx.cniArgs);
    const ipam = await ctx.ipam();
    const l3 = podL3(ipam, 0, conf.dns);
    const master = conf.master ? `master ${q(conf.master)}` : 'the default-route interface';
    const notes = [
      `macvlan in mode ${conf.effectiveMode} on ${master}${conf.linkInContainer ? ' (in the pod)' : ''}${conf.mtu ? `, MTU ${conf.mtu}` : ''}${conf.effectiveMac ? `, MAC ${conf.effectiveMac}` : ''}`,
      ...(ipam ? l3.notes : ['no ipam: the interface is only brought up (an L2 attachment)']),
    ];
    return linkForecast(
      ctx,
      [
        {
          name: ctx.ifname,
          sandbox: ctx.netns,
          ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
          ...(conf.mtu ? { mtu: conf.mtu } : {}),
        },
      ],
      l3,
      ipam,
      notes,
    );
  },
};
