/**
 * tunnel config. No reference CNI plugin exists: the fields follow ip-link(8)'s names for
 * the kernel's gre, gretap, ipip, ip6gre, ip6gretap, ip6tnl and geneve links. `remote`, the
 * key (or VNI) and the addresses may come per pod (args.cni, which the meta-plugin fills from
 * the pod annotation's `cni-args`, or CNI_ARGS), so one network serves pods with their own peers.
 */
import * as z from 'zod/mini';
import { invalidConfig, q } from '../../src/cni/errors.ts';
import { interfaceNameProblem } from '../../src/cni/names.ts';
import {
  ipOrCidrString,
  ipString,
  macString,
  NetConfSchema,
  RuntimeConfigSchema,
  uint,
} from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';
import { type Family, parseIP } from '../../src/ip/ip.ts';
import { GRE_KINDS, kindFamily, L2_KINDS, TUNNEL_KINDS, type TunnelKind } from '../../src/kernel/tunnels.ts';

/** IANA's Geneve port, also Linux's default. */
export const GENEVE_PORT = 6081;
const MAX_VNI = 16_777_215;
const u8 = z.int().check(z.minimum(0), z.maximum(255));
const u32 = uint;
const vniNumber = z.int().check(z.minimum(0), z.maximum(MAX_VNI));

const ifName = z.string().check(
  z.superRefine((s, ctx) => {
    const why = interfaceNameProblem(s);
    if (why) ctx.addIssue({ code: 'custom', message: `interface name ${why}`, input: s });
  }),
);

function unicastProblem(s: string): string | undefined {
  const ip = parseIP(s);
  if (!ip) return 'must be an IP address';
  if (ip.bytes.every((b) => b === 0)) return 'must not be the unspecified address';
  const first = ip.bytes[0] ?? 0;
  if (ip.family === 4 ? first >= 224 && first <= 239 : first === 0xff) return 'must be a unicast address';
  if (ip.family === 4 ? first === 255 && ip.bytes.every((b) => b === 255) : false)
    return 'must be a unicast address';
  return undefined;
}

const unicastIP = ipString.check(
  z.superRefine((s, ctx) => {
    const why = unicastProblem(s);
    if (why) ctx.addIssue({ code: 'custom', message: why, input: s });
  }),
);

export const TunnelConfSchema = z.extend(NetConfSchema, {
  mode: z.enum(TUNNEL_KINDS),
  /** The far end; may come per pod instead (args.cni.remote, CNI_ARGS REMOTE). */
  remote: z.optional(unicastIP),
  /** Default: the master's address of the remote's family. Not for geneve. */
  local: z.optional(unicastIP),
  /** The underlay device in the host; default: the interface of the route to `remote`. */
  master: z.optional(ifName),
  /** GRE kinds: the key both ways; or ikey/okey apart. */
  key: z.optional(u32),
  ikey: z.optional(u32),
  okey: z.optional(u32),
  /** geneve */
  vni: z.optional(vniNumber),
  port: z.optional(z.int().check(z.minimum(1), z.maximum(65_535))),
  /** 0 = inherit (the inner packet's); the kernel's default otherwise. */
  ttl: z.optional(u8),
  /** 1 = inherit (IPv4 kinds); the traffic class for the IPv6 kinds. */
  tos: z.optional(u8),
  /** IPv4 GRE and IPIP: DF on the outer packets (the kernel's default: on). */
  pmtudisc: z.optional(z.boolean()),
  /** ip6gre, ip6gretap, ip6tnl: the encapsulation limit option's value, or "none". */
  encapLimit: z.optional(z.union([u8, z.literal('none')])),
  /** 0 = default: the underlay's MTU minus the mode's overhead. */
  mtu: z.optional(uint.check(z.maximum(65_535))),
  mac: z.optional(macString),
  /** L2 modes: the tunnel stays in the host on this bridge, shared; the pod gets a veth. */
  bridge: z.optional(ifName),
  runtimeConfig: z.optional(z.extend(RuntimeConfigSchema, { mac: z.optional(macString) })),
  args: z.optional(
    z.looseObject({
      cni: z.optional(
        z.looseObject({
          ips: z.optional(z.array(ipOrCidrString)),
          mac: z.optional(macString),
          remote: z.optional(unicastIP),
          key: z.optional(u32),
          vni: z.optional(vniNumber),
        }),
      ),
    }),
  ),
});

type Parsed = z.output<typeof TunnelConfSchema>;

export interface TunnelConf extends Parsed {
  readonly kind: TunnelKind;
  readonly l2: boolean;
  /** remote: args.cni.remote, else CNI_ARGS REMOTE, else `remote`; undefined: not given (ADD refuses). */
  readonly effectiveRemote: string | undefined;
  /** Where effectiveRemote came from, for messages (`args.cni.remote`…). */
  readonly remoteField: string;
  /** GRE kinds: the receive and send keys (per-pod key applied); undefined: no key. */
  readonly effectiveIkey: number | undefined;
  readonly effectiveOkey: number | undefined;
  /** geneve: the VNI (per-pod applied); undefined: not given (ADD refuses). */
  readonly effectiveVni: number | undefined;
  readonly effectivePort: number;
  /** L2 kinds: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC, else `mac`. */
  readonly effectiveMac: string | undefined;
}

function only(c: Parsed, field: keyof Parsed, allowed: boolean, why: string): void {
  if (c[field] !== undefined && !allowed) {
    throw invalidConfig(String(field), `${q(c[field])} is not used with "mode": ${q(c.mode)}: ${why}`);
  }
}

function crossCheck(c: Parsed): void {
  const kind = c.mode;
  const gre = GRE_KINDS.includes(kind);
  const v4 = kind === 'gre' || kind === 'gretap' || kind === 'ipip';
  only(c, 'key', gre, 'keys are for the GRE modes');
  only(c, 'ikey', gre, 'keys are for the GRE modes');
  only(c, 'okey', gre, 'keys are for the GRE modes');
  only(c, 'vni', kind === 'geneve', 'a VNI is for geneve');
  only(c, 'port', kind === 'geneve', 'a UDP port is for geneve');
  only(c, 'pmtudisc', v4, 'pmtudisc is for the IPv4 modes gre, gretap and ipip');
  only(
    c,
    'encapLimit',
    kind === 'ip6gre' || kind === 'ip6gretap' || kind === 'ip6tnl',
    'the encapsulation limit is for ip6gre, ip6gretap and ip6tnl',
  );
  only(c, 'local', kind !== 'geneve', "the kernel's geneve has no local address (routing picks the source)");
  only(c, 'mac', L2_KINDS.includes(kind), 'an L3 tunnel has no MAC address');
  only(
    c,
    'bridge',
    L2_KINDS.includes(kind),
    'only the L2 modes (gretap, ip6gretap, geneve) can join a bridge',
  );
  if (c.key !== undefined && (c.ikey !== undefined || c.okey !== undefined)) {
    throw invalidConfig(
      c.ikey !== undefined ? 'ikey' : 'okey',
      'cannot be used together with "key" (key sets both)',
    );
  }
  if (c.pmtudisc === false && c.ttl !== undefined && c.ttl !== 0) {
    throw invalidConfig(
      'pmtudisc',
      `false needs "ttl" 0 (inherit): a fixed ttl ${c.ttl} needs DF on the outer packets, as in ip-link(8)`,
    );
  }
  if (c.mtu !== undefined && c.mtu !== 0 && c.mtu < 68) {
    throw invalidConfig('mtu', `must be 0 (default) or at least 68; got ${c.mtu}`);
  }
}

/** The family the addresses of a kind's underlay must have (geneve: the remote's). */
function checkFamily(kind: TunnelKind, field: string, value: string, want: Family | undefined): Family {
  const fam = parseIP(value)?.family ?? 4;
  if (want !== undefined && fam !== want) {
    throw invalidConfig(field, `${q(value)} is IPv${fam}, but "mode": ${q(kind)} runs over IPv${want}`);
  }
  return fam;
}

function perPodNumber(cniArgs: ReadonlyMap<string, string>, name: string, max: number): number | undefined {
  const v = cniArgs.get(name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) {
    throw invalidConfig(`CNI_ARGS ${name}`, `${q(v)} is not a number from 0 to ${max}`);
  }
  return Number(v);
}

export function parseTunnelConf(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyMap<string, string>,
): TunnelConf {
  const c = parseWith(TunnelConfSchema, raw);
  crossCheck(c);
  const kind = c.mode;
  const pod = c.args?.cni;
  const argRemote = cniArgs.get('REMOTE') || undefined;
  if (argRemote !== undefined) {
    const why = unicastProblem(argRemote);
    if (why) throw invalidConfig('CNI_ARGS REMOTE', `${q(argRemote)}: ${why}`);
  }
  const argKey = perPodNumber(cniArgs, 'KEY', 0xffff_ffff);
  const argVni = perPodNumber(cniArgs, 'VNI', MAX_VNI);
  const argMac = cniArgs.get('MAC') || undefined;
  if (argMac !== undefined && L2_KINDS.includes(kind)) parseWith(macString, argMac, 'CNI_ARGS MAC');
  const gre = GRE_KINDS.includes(kind);
  if (!gre && (pod?.key !== undefined || argKey !== undefined)) {
    throw invalidConfig(
      pod?.key !== undefined ? 'args.cni.key' : 'CNI_ARGS KEY',
      `keys are for the GRE modes, not ${q(kind)}`,
    );
  }
  if (kind !== 'geneve' && (pod?.vni !== undefined || argVni !== undefined)) {
    throw invalidConfig(
      pod?.vni !== undefined ? 'args.cni.vni' : 'CNI_ARGS VNI',
      `a VNI is for geneve, not ${q(kind)}`,
    );
  }
  const [remoteField, effectiveRemote] =
    pod?.remote !== undefined
      ? ['args.cni.remote', pod.remote]
      : argRemote !== undefined
        ? ['CNI_ARGS REMOTE', argRemote]
        : ['remote', c.remote];
  const family = kindFamily(kind);
  const remoteFamily = effectiveRemote ? checkFamily(kind, remoteField, effectiveRemote, family) : family;
  if (c.local) checkFamily(kind, 'local', c.local, remoteFamily);
  const podKey = pod?.key ?? argKey;
  const effectiveIkey = gre ? (podKey ?? c.key ?? c.ikey) : undefined;
  const effectiveOkey = gre ? (podKey ?? c.key ?? c.okey) : undefined;
  const l2 = L2_KINDS.includes(kind);
  return {
    ...c,
    kind,
    l2,
    effectiveRemote,
    remoteField,
    effectiveIkey,
    effectiveOkey,
    effectiveVni: kind === 'geneve' ? (pod?.vni ?? argVni ?? c.vni) : undefined,
    effectivePort: c.port ?? GENEVE_PORT,
    effectiveMac: l2 ? (c.runtimeConfig?.mac ?? pod?.mac ?? argMac ?? c.mac) : undefined,
  };
}
