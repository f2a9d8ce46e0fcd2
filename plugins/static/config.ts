/** static config: the `ipam` section with the reference plugin's field names, and the capabilities it reads. */
import { z } from 'zod';
import { cidrString, DNSSchema, ipString, NetConfSchema, RouteSchema } from '../../src/cni/netconf.ts';

export const StaticAddressSchema = z.looseObject({
  address: cidrString,
  gateway: ipString.optional(),
});

export const StaticIpamSchema = z.looseObject({
  type: z.string(),
  addresses: z.array(StaticAddressSchema).optional(),
  routes: z.array(RouteSchema).optional(),
  dns: DNSSchema.optional(),
});

export const StaticConfSchema = NetConfSchema.extend({
  ipam: StaticIpamSchema,
  runtimeConfig: z.looseObject({ ips: z.array(cidrString).optional() }).optional(),
  args: z.looseObject({ cni: z.looseObject({ ips: z.array(cidrString).optional() }).optional() }).optional(),
});
export type StaticConf = z.output<typeof StaticConfSchema>;
