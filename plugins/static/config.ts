/** static config: the `ipam` section with the reference plugin's field names, and the capabilities it reads. */
import * as z from 'zod/mini';
import { cidrString, DNSSchema, ipString, NetConfSchema, RouteSchema } from '../../src/cni/netconf.ts';

export const StaticAddressSchema = z.looseObject({
  address: cidrString,
  gateway: z.optional(ipString),
});

export const StaticIpamSchema = z.looseObject({
  type: z.string(),
  addresses: z.optional(z.array(StaticAddressSchema)),
  routes: z.optional(z.array(RouteSchema)),
  dns: z.optional(DNSSchema),
});

export const StaticConfSchema = z.extend(NetConfSchema, {
  ipam: StaticIpamSchema,
  runtimeConfig: z.optional(z.looseObject({ ips: z.optional(z.array(cidrString)) })),
  args: z.optional(
    z.looseObject({ cni: z.optional(z.looseObject({ ips: z.optional(z.array(cidrString)) })) }),
  ),
});
export type StaticConf = z.output<typeof StaticConfSchema>;
