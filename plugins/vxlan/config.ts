/**
 * vxlan config. No reference CNI plugin exists: the fields follow the kernel's vxlan link
 * options (ip-link(8) names where they fit) and flannel's vxlan backend (REFERENCE.md).
 */
import * as z from 'zod/mini';
import { invalidConfig, q } from '../../src/cni/errors.ts';
import { interfaceNameProblem } from '../../src/cni/names.ts';
import { ipString, macString, NetConfSchema, uint } from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';
import { type Family, parseIP } from '../../src/ip/ip.ts';

export const MODES = ['direct', 'bridge'] as const;
export type Mode = (typeof MODES)[number];

/** IANA's VXLAN port. Linux's own default is 8472, so the port is always passed explicitly. */
export const DEFAULT_PORT = 4789;
export const ZERO_MAC = '00:00:00:00:00:00';

const MAX_VNI = 16_777_215;
const u8 = z.int().check(z.minimum(0), z.maximum(255));
const udpPort = z.int().check(z.minimum(1), z.maximum(65_535));

function isMulticast(s: string): boolean {
  const ip = parseIP(s);
  if (!ip) return false;
  const first = ip.bytes[0] ?? 0;
  return ip.family === 4 ? first >= 224 && first <= 239 : first === 0xff;
}

function isUnspecified(s: string): boolean {
  return parseIP(s)?.bytes.every((b) => b === 0) ?? false;
}

const unicastIP = ipString.check(
  z.refine((s) => !isMulticast(s), { message: 'must be a unicast address' }),
  z.refine((s) => !isUnspecified(s), { message: 'must not be the unspecified address' }),
);

/** A Linux interface name: 1–15 bytes, no "/", ":" or whitespace, not "." or "..". */
/** An interface name the kernel accepts: 1–15 bytes, no "/", ":" or white space, not "." or "..". */
export const ifName = z.string().check(
  z.superRefine((s, ctx) => {
    const why = interfaceNameProblem(s);
    if (why) ctx.addIssue({ code: 'custom', message: `interface name ${why}`, input: s });
  }),
);

export const FdbEntrySchema = z.looseObject({
  /** Inner (overlay) MAC; 00:00:00:00:00:00 is a flood entry, like one of `remotes`. */
  mac: macString,
  /** Remote VTEP (underlay IP) that frames for `mac` are sent to. */
  dst: ipString,
});
export type FdbEntry = z.output<typeof FdbEntrySchema>;

export const VxlanConfSchema = z.extend(NetConfSchema, {
  vni: z.int().check(z.minimum(1), z.maximum(MAX_VNI)),
  port: z.optional(udpPort),
  /** Underlay device in the host; default: the interface of the default route. */
  master: z.optional(ifName),
  local: z.optional(unicastIP),
  group: z.optional(ipString.check(z.refine(isMulticast, { message: 'must be a multicast address' }))),
  remotes: z.optional(z.array(unicastIP)),
  fdb: z.optional(z.array(FdbEntrySchema)),
  learning: z.optional(z.boolean()),
  /** 0 = auto (the kernel's default TTL). */
  ttl: z.optional(u8),
  /** 1 = inherit from the inner packet. */
  tos: z.optional(u8),
  /** UDP source port range [low, high] (the kernel hashes flows into it). */
  srcPortRange: z.optional(z.tuple([udpPort, udpPort])),
  udpCsum: z.optional(z.boolean()),
  /** 0 = default: the underlay's MTU minus the encapsulation overhead. */
  mtu: z.optional(uint.check(z.maximum(65_535))),
  mode: z.optional(z.enum(MODES)),
  /** Bridge mode: the host bridge shared by the pods of this VNI (default vxbr<vni>). */
  bridge: z.optional(ifName),
  mac: z.optional(macString),
});

export interface VxlanConf extends z.output<typeof VxlanConfSchema> {
  readonly effectiveMode: Mode;
  readonly effectivePort: number;
  readonly effectiveLearning: boolean;
  /** The pod interface's MAC: runtimeConfig.mac, else CNI_ARGS MAC, else `mac`. */
  readonly effectiveMac: string | undefined;
  /** Bridge mode: the bridge name (default applied). */
  readonly bridgeName: string;
  /** The underlay's address family, from local/group/remotes/fdb (IPv4 when none is given). */
  readonly family: Family;
}

/** The addresses that decide the underlay family, with their JSON paths. */
function underlayAddresses(c: z.output<typeof VxlanConfSchema>): [string, string][] {
  const out: [string, string][] = [];
  if (c.local) out.push(['local', c.local]);
  if (c.group) out.push(['group', c.group]);
  c.remotes?.forEach((r, i) => {
    out.push([`remotes[${i}]`, r]);
  });
  c.fdb?.forEach((e, i) => {
    out.push([`fdb[${i}].dst`, e.dst]);
  });
  return out;
}

function crossCheck(c: z.output<typeof VxlanConfSchema>): Family {
  if (c.group && c.remotes?.length) {
    throw invalidConfig(
      'remotes',
      'cannot be used together with "group" (multicast or head-end replication, not both)',
    );
  }
  const addrs = underlayAddresses(c);
  const first = addrs[0];
  const family: Family = first ? (parseIP(first[1])?.family ?? 4) : 4;
  for (const [path, value] of addrs) {
    if (parseIP(value)?.family !== family && first) {
      throw invalidConfig(
        path,
        `${q(value)} is IPv${family === 4 ? 6 : 4}, but ${first[0]} ${q(first[1])} is IPv${family}: one vxlan device speaks one underlay family`,
      );
    }
  }
  const seen = new Map<string, number>();
  c.fdb?.forEach((e, i) => {
    const mac = e.mac.toLowerCase();
    if (mac === ZERO_MAC) return;
    const prev = seen.get(mac);
    if (prev !== undefined) {
      throw invalidConfig(`fdb[${i}].mac`, `${q(e.mac)} is already given in fdb[${prev}]`);
    }
    seen.set(mac, i);
  });
  if (c.srcPortRange && c.srcPortRange[0] > c.srcPortRange[1]) {
    throw invalidConfig(
      'srcPortRange',
      `low port ${c.srcPortRange[0]} is above high port ${c.srcPortRange[1]}`,
    );
  }
  if (c.mtu !== undefined && c.mtu !== 0 && c.mtu < 68) {
    throw invalidConfig('mtu', `must be 0 (default) or at least 68; got ${c.mtu}`);
  }
  if (c.bridge !== undefined && (c.mode ?? 'direct') !== 'bridge') {
    throw invalidConfig('bridge', 'is only used with "mode": "bridge"');
  }
  return family;
}

export function parseVxlanConf(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyMap<string, string>,
): VxlanConf {
  const conf = parseWith(VxlanConfSchema, raw);
  const family = crossCheck(conf);
  const argMac = cniArgs.get('MAC') || undefined; // "" is not set, as in macvlan and the reference
  if (argMac !== undefined) parseWith(macString, argMac, 'CNI_ARGS MAC');
  return {
    ...conf,
    effectiveMode: conf.mode ?? 'direct',
    effectivePort: conf.port ?? DEFAULT_PORT,
    effectiveLearning: conf.learning ?? false,
    effectiveMac: conf.runtimeConfig?.mac ?? argMac ?? conf.mac,
    bridgeName: conf.bridge ?? `vxbr${conf.vni}`,
    family,
  };
}
