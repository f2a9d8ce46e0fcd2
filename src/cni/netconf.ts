/**
 * Shared zod schemas: the NetConf fields every plugin accepts, the Result (prevResult), DNS,
 * routes and the IPAM section. Objects are loose: unknown fields are kept and ignored, as the
 * reference plugins do.
 */
import * as z from 'zod/mini';
import { parseCIDR, parseIP } from '../ip/ip.ts';
import { interfaceNameProblem } from './names.ts';

// Every CNI call parses one config once: zod's generated (new Function) fast path costs more
// to compile than it saves, and cannot be kept in the code cache.
z.config({ jitless: true });

export const ipString = z
  .string()
  .check(z.refine((s) => parseIP(s) !== undefined, { message: 'must be an IP address' }));
export const cidrString = z
  .string()
  .check(
    z.refine((s) => parseCIDR(s) !== undefined, { message: 'must be an address with prefix length (CIDR)' }),
  );
export const macString = z.string().check(
  z.regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, {
    message: 'must be a MAC address like 0a:58:0a:f4:00:05',
  }),
);

/** A u32, as every numeric CNI field ends up in the kernel: larger values must not wrap silently. */
/** An interface name the kernel accepts (≤ 15 bytes, no '/', ':' or white space, not '.' or '..'). */
export const ifnameString = z.string().check(
  z.superRefine((s: string, ctx) => {
    const problem = interfaceNameProblem(s);
    if (problem && s !== '') ctx.addIssue({ code: 'custom', message: `interface name ${problem}`, input: s });
  }),
);

export const uint = z.int().check(z.nonnegative(), z.maximum(0xffff_ffff));

// Schemas are immutable, so one instance serves every field of that shape: each schema object
// costs time to build (zod/mini: ~2.8 ms for a meta DEL's), and every call builds this module's
// (see bench/README.md). zod/mini only: classic zod would bring its locale and bigger objects.
const optUint = z.optional(uint);
const optString = z.optional(z.string());
const optStrings = z.optional(z.array(z.string()));
const optIp = z.optional(ipString);

/** A link MTU: 0 means "the kernel's default", anything else is at least IPv4's minimum, 68. */
export const mtuNumber = uint.check(
  z.refine((n) => n === 0 || n >= 68, { message: 'must be 0 (default) or at least 68' }),
);

export const RouteSchema = z.looseObject({
  dst: cidrString,
  gw: optIp,
  mtu: optUint,
  advmss: optUint,
  priority: optUint,
  table: optUint,
  scope: z.optional(z.int().check(z.minimum(0), z.maximum(255))),
});

export const DNSSchema = z.looseObject({
  nameservers: optStrings,
  domain: optString,
  search: optStrings,
  options: optStrings,
});

export const InterfaceSchema = z.looseObject({
  name: z.string(),
  mac: optString,
  mtu: optUint,
  sandbox: optString,
  socketPath: optString,
  pciID: optString,
});

export const IPConfigSchema = z.looseObject({
  version: z.optional(z.enum(['4', '6'])),
  address: cidrString,
  gateway: optIp,
  interface: optUint,
});

/** 0.1.0/0.2.0: the `ip4`/`ip6` object of a result. */
const V02IPConfigSchema = z.looseObject({
  ip: cidrString,
  gateway: optIp,
  routes: z.optional(z.array(z.looseObject({ dst: cidrString, gw: optIp }))),
});

/** A result of any supported version (0.1.0 … 1.1.0). */
export const ResultSchema = z.looseObject({
  cniVersion: optString,
  interfaces: z.optional(z.array(InterfaceSchema)),
  ips: z.optional(z.array(IPConfigSchema)),
  routes: z.optional(z.array(RouteSchema)),
  dns: z.optional(DNSSchema),
  ip4: z.optional(V02IPConfigSchema),
  ip6: z.optional(V02IPConfigSchema),
});

export const IpamSchema = z.looseObject({ type: z.string().check(z.minLength(1)) });

/** An IP address, or an address with a prefix length (requested IPs come both ways). */
export const ipOrCidrString = z.string().check(
  z.refine((s) => parseIP(s) !== undefined || parseCIDR(s) !== undefined, {
    message: 'must be an IP address or CIDR',
  }),
);

const optMac = z.optional(macString);
const optIps = z.optional(z.array(ipOrCidrString));
const optBool = z.optional(z.boolean());

/** Capability arguments manifold reads; the rest pass through untouched. */
export const RuntimeConfigSchema = z.looseObject({
  mac: optMac,
  ips: optIps,
  deviceID: optString,
  infinibandGUID: optString,
});

export const ArgsSchema = z.looseObject({
  cni: z.optional(z.looseObject({ ips: optIps, mac: optMac })),
});

export const NetConfSchema = z.looseObject({
  /** Absent or "" means 0.1.0 (the skel has settled which version the call speaks). */
  cniVersion: optString,
  name: z.string(),
  type: z.string().check(z.minLength(1)),
  capabilities: z.optional(z.record(z.string(), z.boolean())),
  runtimeConfig: z.optional(RuntimeConfigSchema),
  args: z.optional(ArgsSchema),
  ipam: z.optional(IpamSchema),
  dns: z.optional(DNSSchema),
  prevResult: z.optional(ResultSchema),
  disableCheck: optBool,
  disableGC: optBool,
});
export type NetConf = z.output<typeof NetConfSchema>;
