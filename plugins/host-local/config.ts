/** host-local config: the `ipam` section with the reference plugin's field names, and the capabilities it reads. */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { cidrString, ipOrCidrString, ipString, NetConfSchema, RouteSchema } from '../../src/cni/netconf.ts';

export const RangeSchema = z.looseObject({
  subnet: cidrString,
  rangeStart: z.optional(ipString),
  rangeEnd: z.optional(ipString),
  gateway: z.optional(ipString),
});
export type RangeConf = z.output<typeof RangeSchema>;

export const HostLocalIpamSchema = z.looseObject({
  type: z.string(),
  // legacy single-range form
  subnet: z.optional(cidrString),
  rangeStart: z.optional(ipString),
  rangeEnd: z.optional(ipString),
  gateway: z.optional(ipString),
  ranges: z.optional(z.array(z.array(RangeSchema))),
  routes: z.optional(z.array(RouteSchema)),
  dataDir: z.optional(z.string().check(z.refine(isAbsolute, { message: 'must be an absolute path' }))),
  resolvConf: z.optional(z.string()),
});

/** The whole config as host-local reads it (IPAM plugins get the full network config). */
export const HostLocalConfSchema = z.extend(NetConfSchema, {
  ipam: HostLocalIpamSchema,
  runtimeConfig: z.optional(
    z.looseObject({
      ips: z.optional(z.array(ipOrCidrString)),
      ipRanges: z.optional(z.array(z.array(RangeSchema))),
    }),
  ),
});
export type HostLocalConf = z.output<typeof HostLocalConfSchema>;
