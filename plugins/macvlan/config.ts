/** macvlan config: the reference plugin's fields (containernetworking/plugins macvlan). */
import { z } from 'zod';
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
const macOrEmpty = z.string().refine((s) => s === '' || macString.safeParse(s).success, {
  message: 'must be a MAC address like 0a:58:0a:f4:00:05',
});

export const MacvlanConfSchema = NetConfSchema.extend({
  /** Host interface to attach to; default: the interface of the default route. */
  master: ifnameString.optional(),
  /** "" means bridge, as in the reference. */
  mode: z.enum(['', ...MODES]).optional(),
  /** 0 = the kernel's default (the master's MTU); must not exceed the master's. */
  mtu: mtuNumber.optional(),
  mac: macOrEmpty.optional(),
  runtimeConfig: RuntimeConfigSchema.extend({ mac: macOrEmpty.optional() }).optional(),
  /** The master lives in the pod's namespace rather than the host's. */
  linkInContainer: z.boolean().optional(),
  /** Broadcast queue length of the macvlan port (IFLA_MACVLAN_BC_QUEUE_LEN). */
  bcqueuelen: uint.optional(),
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
