/**
 * The multi-homing options: accepted on the meta config and, to override it for one network,
 * in a delegate's `manifold` object. Every one is off by default, so a pod gets its routes
 * exactly as its IPAM gives them (what Multus users expect); see docs/multihoming.md.
 */
import * as z from 'zod/mini';

export const GATEWAY_CHECKS = ['off', 'warn', 'fail'] as const;
export type GatewayCheck = (typeof GATEWAY_CHECKS)[number];

export const DEFAULT_PROBE_COUNT = 3;
export const DEFAULT_PROBE_INTERVAL_MS = 100;

/** Two octets, unicast (the low bit of the first is 0); `""` turns an inherited prefix off. */
const macPrefix = z.string().check(
  z.regex(/^([0-9a-fA-F]{2}:[0-9a-fA-F]{2})?$/, { message: 'must be two MAC octets like "0a:58"' }),
  z.refine((s) => s === '' || (Number.parseInt(s.slice(0, 2), 16) & 1) === 0, {
    message: 'must be a unicast prefix (the first octet even), e.g. "0a:58"',
  }),
);

/** The fields, spread into the meta config's schema and into a delegate's `manifold` object. */
export const MultihomeShape = {
  /** A routing table and `from <address>` rules for every attachment without the default route. */
  policyRouting: z.optional(z.boolean()),
  /** Gratuitous ARP for each IPv4 address and an unsolicited NA for each IPv6 address, last. */
  announce: z.optional(z.boolean()),
  /** ARP probes for each IPv4 address, the kernel's DAD result for each IPv6 one; conflicts fail ADD. */
  addressConflictCheck: z.optional(z.boolean()),
  /** Does each gateway answer ARP/NDP: `warn` logs, `fail` rolls ADD back. */
  gatewayCheck: z.optional(z.enum(GATEWAY_CHECKS)),
  /** The probe budget of the two checks: probes per address or gateway … */
  probeCount: z.optional(z.int().check(z.minimum(1), z.maximum(10))),
  /** … and the time between two of them (ms). */
  probeIntervalMs: z.optional(z.int().check(z.minimum(10), z.maximum(1000))),
  /** arp_ignore=1, arp_announce=2 on every interface; rp_filter=2, accept_ra_defrtr=0 on the others. */
  multihomeSysctls: z.optional(z.boolean()),
  /** The interface's MAC becomes `<prefix>:<the four octets of its IPv4 address>`. */
  macFromIPv4: z.optional(macPrefix),
};

const OptionsSchema = z.object(MultihomeShape);
export type OptionFields = z.output<typeof OptionsSchema>;

/** The options in force for one attachment. */
export interface Options {
  readonly policyRouting: boolean;
  readonly announce: boolean;
  readonly addressConflictCheck: boolean;
  readonly gatewayCheck: GatewayCheck;
  readonly budget: { readonly rounds: number; readonly intervalMs: number };
  readonly sysctls: boolean;
  readonly macPrefix: string | undefined;
}

/** The delegate's own fields win over the meta config's; the defaults (all off) come last. */
export function resolveOptions(meta: OptionFields, own: OptionFields | undefined): Options {
  const pick = <K extends keyof OptionFields>(k: K): OptionFields[K] => own?.[k] ?? meta[k];
  const prefix = pick('macFromIPv4');
  return {
    policyRouting: pick('policyRouting') === true,
    announce: pick('announce') === true,
    addressConflictCheck: pick('addressConflictCheck') === true,
    gatewayCheck: pick('gatewayCheck') ?? 'off',
    budget: {
      rounds: pick('probeCount') ?? DEFAULT_PROBE_COUNT,
      intervalMs: pick('probeIntervalMs') ?? DEFAULT_PROBE_INTERVAL_MS,
    },
    sysctls: pick('multihomeSysctls') === true,
    macPrefix: prefix ? prefix.toLowerCase() : undefined,
  };
}

/** Whether any option asks for work in the pod. */
export function anyOn(o: Options): boolean {
  return (
    o.policyRouting ||
    o.announce ||
    o.addressConflictCheck ||
    o.gatewayCheck !== 'off' ||
    o.sysctls ||
    o.macPrefix !== undefined
  );
}
