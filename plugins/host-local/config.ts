/** host-local config: the `ipam` section with the reference plugin's field names, and the capabilities it reads. */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { cidrString, ipOrCidrString, ipString, NetConfSchema, RouteSchema } from '../../src/cni/netconf.ts';

export const RangeSchema = z.looseObject({
  subnet: cidrString,
  rangeStart: ipString.optional(),
  rangeEnd: ipString.optional(),
  gateway: ipString.optional(),
});
export type RangeConf = z.output<typeof RangeSchema>;

export const HostLocalIpamSchema = z.looseObject({
  type: z.string(),
  // legacy single-range form
  subnet: cidrString.optional(),
  rangeStart: ipString.optional(),
  rangeEnd: ipString.optional(),
  gateway: ipString.optional(),
  ranges: z.array(z.array(RangeSchema)).optional(),
  routes: z.array(RouteSchema).optional(),
  dataDir: z.string().refine(isAbsolute, { message: 'must be an absolute path' }).optional(),
  resolvConf: z.string().optional(),
});

/** The whole config as host-local reads it (IPAM plugins get the full network config). */
export const HostLocalConfSchema = NetConfSchema.extend({
  ipam: HostLocalIpamSchema,
  runtimeConfig: z
    .looseObject({
      ips: z.array(ipOrCidrString).optional(),
      ipRanges: z.array(z.array(RangeSchema)).optional(),
    })
    .optional(),
});
export type HostLocalConf = z.output<typeof HostLocalConfSchema>;
