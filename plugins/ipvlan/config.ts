/** ipvlan config: the reference plugin's fields (containernetworking/plugins ipvlan) plus `flags`. */
import * as z from 'zod/mini';
import { ifnameString, mtuNumber, NetConfSchema } from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';

export const MODES = ['l2', 'l3', 'l3s'] as const;
export type Mode = (typeof MODES)[number];
export const FLAGS = ['bridge', 'private', 'vepa'] as const;
export type Flag = (typeof FLAGS)[number];

export const IpvlanConfSchema = z.extend(NetConfSchema, {
  /** Host interface to attach to; default: prevResult's single interface when chained, else the default-route interface. */
  master: z.optional(ifnameString),
  /** "" means l2, as in the reference. */
  mode: z.optional(z.enum(['', ...MODES])),
  /** How slaves of one master reach each other (IFLA_IPVLAN_FLAGS); default bridge. */
  flags: z.optional(z.enum(FLAGS)),
  mtu: z.optional(mtuNumber),
  linkInContainer: z.optional(z.boolean()),
});

export interface IpvlanConf extends z.output<typeof IpvlanConfSchema> {
  readonly effectiveMode: Mode;
  readonly effectiveFlag: Flag;
}

export function parseIpvlanConf(raw: Record<string, unknown>): IpvlanConf {
  const conf = parseWith(IpvlanConfSchema, raw);
  return { ...conf, effectiveMode: conf.mode || 'l2', effectiveFlag: conf.flags ?? 'bridge' };
}
