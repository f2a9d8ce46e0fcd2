/**
 * static IPAM: the addresses, routes and DNS of the config, as the reference plugin gives
 * them. Addresses come from (highest first) the `ips` capability, `args.cni.ips`, or the
 * config's `addresses` plus CNI_ARGS `IP=` (comma list of CIDRs) with `GATEWAY=`.
 */

import { canonicalCIDR, canonicalIP, canonicalRoute } from '../../src/cni/canonical.ts';
import { CniError, Code, invalidConfig, q } from '../../src/cni/errors.ts';
import type { CheckContext, Plugin, PluginContext } from '../../src/cni/plugin.ts';
import type { IPConfig, Result } from '../../src/cni/result.ts';
import { parseWith } from '../../src/cni/validate.ts';
import { contains, parseCIDR, parseIP } from '../../src/ip/ip.ts';
import { type StaticConf, StaticConfSchema } from './config.ts';

export interface Static {
  readonly conf: StaticConf;
  readonly addresses: readonly IPConfig[];
}

function fromCniArgs(conf: StaticConf, cniArgs: ReadonlyMap<string, string>): IPConfig[] {
  const out: IPConfig[] = (conf.ipam.addresses ?? []).map((a) => ({
    address: a.address,
    gateway: a.gateway,
  }));
  for (const item of (cniArgs.get('IP') ?? '').split(',')) {
    const s = item.trim();
    if (!s) continue;
    if (!parseCIDR(s))
      throw invalidConfig('CNI_ARGS IP', `expected an address in CIDR notation, got ${q(s)}`);
    out.push({ address: s });
  }
  for (const item of (cniArgs.get('GATEWAY') ?? '').split(',')) {
    const s = item.trim();
    if (!s) continue;
    const gw = parseIP(s);
    if (!gw) throw invalidConfig('CNI_ARGS GATEWAY', `not an IP address: ${q(s)}`);
    for (const a of out) {
      const n = parseCIDR(a.address);
      if (n && contains(n, gw)) a.gateway = s;
    }
  }
  return out;
}

export function loadStatic(raw: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): Static {
  const conf = parseWith(StaticConfSchema, raw);
  const capIps = conf.runtimeConfig?.ips;
  const argIps = conf.args?.cni?.ips;
  let addresses: IPConfig[];
  if (capIps?.length) addresses = capIps.map((address) => ({ address }));
  else if (argIps?.length) addresses = argIps.map((address) => ({ address }));
  else addresses = fromCniArgs(conf, cniArgs);
  return { conf, addresses };
}

export function staticAdd(st: Static, cniVersion: string): Result {
  const ips = st.addresses.map((a) => ({
    address: canonicalCIDR(a.address),
    ...(a.gateway ? { gateway: canonicalIP(a.gateway) } : {}),
  }));
  const result: Result = { cniVersion, ips };
  if (st.conf.ipam.routes?.length) result.routes = st.conf.ipam.routes.map(canonicalRoute);
  if (st.conf.ipam.dns) result.dns = { ...st.conf.ipam.dns };
  return result;
}

/** Every configured address is in prevResult (with the configured gateway, when one is set). */
export function staticCheck(st: Static, prev: Result, ifname: string): void {
  for (const a of st.addresses) {
    const want = parseCIDR(a.address)?.ip;
    const got = (prev.ips ?? []).find((ip) => {
      const have = parseCIDR(ip.address)?.ip;
      return want && have && want.family === have.family && want.bytes.every((b, i) => b === have.bytes[i]);
    });
    if (!got || (a.gateway && canonicalIP(got.gateway ?? '') !== canonicalIP(a.gateway))) {
      throw new CniError(
        Code.Internal,
        `static: failed to match address ${a.address} on interface ${q(ifname)}`,
      );
    }
  }
}

type Ctx = PluginContext<Static>;

export const plugin: Plugin<Static> = {
  type: 'static',
  parseConfig: loadStatic,
  add: async (ctx: Ctx) => staticAdd(ctx.conf, ctx.cniVersion),
  del: async () => undefined,
  check: async (ctx: CheckContext<Static>) => staticCheck(ctx.conf, ctx.prevResult, ctx.ifname),
  status: async () => undefined,
  gc: async () => undefined,
};
