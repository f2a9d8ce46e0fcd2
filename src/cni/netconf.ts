/**
 * Shared zod schemas: the NetConf fields every plugin accepts, the Result (prevResult), DNS,
 * routes and the IPAM section. Objects are loose: unknown fields are kept and ignored, as the
 * reference plugins do.
 */
import { z } from 'zod';
import { parseCIDR, parseIP } from '../ip/ip.ts';
import { interfaceNameProblem } from './names.ts';

// Every CNI call parses one config once: zod's generated (new Function) fast path costs more
// to compile than it saves, and cannot be kept in the code cache.
z.config({ jitless: true });

export const ipString = z
  .string()
  .refine((s) => parseIP(s) !== undefined, { message: 'must be an IP address' });
export const cidrString = z
  .string()
  .refine((s) => parseCIDR(s) !== undefined, { message: 'must be an address with prefix length (CIDR)' });
export const macString = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { message: 'must be a MAC address like 0a:58:0a:f4:00:05' });

/** A u32, as every numeric CNI field ends up in the kernel: larger values must not wrap silently. */
/** An interface name the kernel accepts (≤ 15 bytes, no '/', ':' or white space, not '.' or '..'). */
export const ifnameString = z.string().superRefine((s, ctx) => {
  const problem = interfaceNameProblem(s);
  if (problem && s !== '') ctx.addIssue({ code: 'custom', message: `interface name ${problem}`, input: s });
});

export const uint = z.number().int().nonnegative().max(0xffff_ffff);

// Schemas are immutable, so one instance serves every field of that shape: each zod schema
// object costs ~20 µs to build, and every call builds this module's (see bench/README.md).
const optUint = uint.optional();
const optString = z.string().optional();
const optStrings = z.array(z.string()).optional();
const optIp = ipString.optional();

/** A link MTU: 0 means "the kernel's default", anything else is at least IPv4's minimum, 68. */
export const mtuNumber = uint.refine((n) => n === 0 || n >= 68, {
  message: 'must be 0 (default) or at least 68',
});

export const RouteSchema = z.looseObject({
  dst: cidrString,
  gw: optIp,
  mtu: optUint,
  advmss: optUint,
  priority: optUint,
  table: optUint,
  scope: z.number().int().min(0).max(255).optional(),
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
  version: z.enum(['4', '6']).optional(),
  address: cidrString,
  gateway: optIp,
  interface: optUint,
});

/** 0.1.0/0.2.0: the `ip4`/`ip6` object of a result. */
const V02IPConfigSchema = z.looseObject({
  ip: cidrString,
  gateway: optIp,
  routes: z.array(z.looseObject({ dst: cidrString, gw: optIp })).optional(),
});

/** A result of any supported version (0.1.0 … 1.1.0). */
export const ResultSchema = z.looseObject({
  cniVersion: optString,
  interfaces: z.array(InterfaceSchema).optional(),
  ips: z.array(IPConfigSchema).optional(),
  routes: z.array(RouteSchema).optional(),
  dns: DNSSchema.optional(),
  ip4: V02IPConfigSchema.optional(),
  ip6: V02IPConfigSchema.optional(),
});

export const IpamSchema = z.looseObject({ type: z.string().min(1) });

/** An IP address, or an address with a prefix length (requested IPs come both ways). */
export const ipOrCidrString = z
  .string()
  .refine((s) => parseIP(s) !== undefined || parseCIDR(s) !== undefined, {
    message: 'must be an IP address or CIDR',
  });

const optMac = macString.optional();
const optIps = z.array(ipOrCidrString).optional();
const optBool = z.boolean().optional();

/** Capability arguments manifold reads; the rest pass through untouched. */
export const RuntimeConfigSchema = z.looseObject({
  mac: optMac,
  ips: optIps,
  deviceID: optString,
  infinibandGUID: optString,
});

export const ArgsSchema = z.looseObject({
  cni: z.looseObject({ ips: optIps, mac: optMac }).optional(),
});

export const NetConfSchema = z.looseObject({
  /** Absent or "" means 0.1.0 (the skel has settled which version the call speaks). */
  cniVersion: optString,
  name: z.string(),
  type: z.string().min(1),
  capabilities: z.record(z.string(), z.boolean()).optional(),
  runtimeConfig: RuntimeConfigSchema.optional(),
  args: ArgsSchema.optional(),
  ipam: IpamSchema.optional(),
  dns: DNSSchema.optional(),
  prevResult: ResultSchema.optional(),
  disableCheck: optBool,
  disableGC: optBool,
});
export type NetConf = z.output<typeof NetConfSchema>;
