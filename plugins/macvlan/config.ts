/** macvlan config: the reference plugin's fields (containernetworking/plugins macvlan). */
import * as z from 'zod/mini';
import {
  ifnameString,
  macString,
  mtuNumber,
  NetConfSchema,
  RuntimeConfigSchema,
  uint,
} from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';

export const MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export type Mode = (typeof MODES)[number];

/** A MAC, or "" for none: the reference ignores empty MACs wherever they come from. */
const macOrEmpty = z.string().check(
  z.refine((s) => s === '' || macString.safeParse(s).success, {
    message: 'must be a MAC address like 0a:58:0a:f4:00:05',
  }),
);

export const MacvlanConfSchema = z.extend(NetConfSchema, {
  /** Host interface to attach to; default: the interface of the default route. */
  master: z.optional(ifnameString),
  /** "" means bridge, as in the reference. */
  mode: z.optional(z.enum(['', ...MODES])),
  /** 0 = the kernel's default (the master's MTU); must not exceed the master's. */
  mtu: z.optional(mtuNumber),
  mac: z.optional(macOrEmpty),
  runtimeConfig: z.optional(z.extend(RuntimeConfigSchema, { mac: z.optional(macOrEmpty) })),
  /** The master lives in the pod's namespace rather than the host's. */
  linkInContainer: z.optional(z.boolean()),
  /** Broadcast queue length of the macvlan port (IFLA_MACVLAN_BC_QUEUE_LEN). */
  bcqueuelen: z.optional(uint),
});

export interface MacvlanConf extends z.output<typeof MacvlanConfSchema> {
  /** The mode to create (default applied). */
  readonly effectiveMode: Mode;
  /** The MAC to set: runtimeConfig.mac, else CNI_ARGS MAC, else `mac`. */
  readonly effectiveMac: string | undefined;
}

export function parseMacvlanConf(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyMap<string, string>,
): MacvlanConf {
  const conf = parseWith(MacvlanConfSchema, raw);
  const argMac = cniArgs.get('MAC');
  if (argMac) parseWith(macString, argMac, 'CNI_ARGS MAC');
  return {
    ...conf,
    effectiveMode: conf.mode || 'bridge',
    effectiveMac: conf.runtimeConfig?.mac || argMac || conf.mac || undefined,
  };
}
