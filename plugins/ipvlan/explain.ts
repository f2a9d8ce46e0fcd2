/**
 * ipvlan's dry run (`manifold explain`): the slave ADD would make on the master (named, else
 * prevResult's single interface when chained, else the default-route interface), sharing its
 * MAC, with IPAM's addresses — or, chained without IPAM, prevResult's.
 */

import { q } from '../../src/cni/errors.ts';
import {
  type ExplainContext,
  type Explainer,
  type Forecast,
  linkForecast,
  podL3,
} from '../../src/cni/explain.ts';
import { parseIpvlanConf } from './config.ts';

export const explainer: Explainer = {
  async explain(ctx: ExplainContext): Promise<Forecast> {
    const conf = parseIpvlanConf(ctx.raw);
    const ipam = await ctx.ipam();
    const prev = ctx.prevResult;
    const given = !ipam && prev?.ips?.length ? { result: prev, notes: [], complete: true } : undefined;
    const l3 = podL3(ipam ?? given, 0, conf.dns);
    const chainedMaster =
      !conf.master && prev?.interfaces?.length === 1 ? prev.interfaces[0]?.name : undefined;
    const master = conf.master
      ? `master ${q(conf.master)}`
      : chainedMaster
        ? `master ${q(chainedMaster)} (prevResult's interface)`
        : 'the default-route interface';
    const notes = [
      `ipvlan in mode ${conf.effectiveMode} ${conf.effectiveFlag} on ${master}, sharing its MAC${conf.mtu ? `, MTU ${conf.mtu}` : ''}`,
      ...(conf.effectiveMode !== 'l2' ? ['L3: no ARP, every route is installed as a device route'] : []),
      ...(ipam ? l3.notes : given ? ["no ipam: prevResult's addresses"] : ['no ipam: L2 only']),
    ];
    return linkForecast(
      ctx,
      [{ name: ctx.ifname, sandbox: ctx.netns, ...(conf.mtu ? { mtu: conf.mtu } : {}) }],
      l3,
      ipam,
      notes,
      given ? l3.ips.map(() => 'prevResult') : l3.sources,
    );
  },
};
