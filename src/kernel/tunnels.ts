/**
 * IFLA_INFO_DATA of the IP tunnel kinds (gre, gretap, ipip, ip6gre, ip6gretap, ip6tnl,
 * geneve): one spec encoded per kind for creation and decoded for CHECK, and the bytes each
 * kind's outer headers take from the underlay's MTU. Kept apart from kinds.ts because the
 * seven kinds share one spec and three attribute families (IFLA_GRE_*, IFLA_IPTUN_*,
 * IFLA_GENEVE_*) whose numbering differs.
 */
import { type Family, formatIP, parseIP } from '../ip/ip.ts';
import type { Link } from './link.ts';
import { type Attr, readU8, readU16be, readU32, u8, u16be, u32 } from './nl/attrs.ts';
import { GRE_KEY, IFLA_GENEVE, IFLA_GRE, IFLA_IPTUN, IP6_TNL_F_IGN_ENCAP_LIMIT } from './nl/constants.ts';

export const TUNNEL_KINDS = ['gre', 'gretap', 'ipip', 'ip6gre', 'ip6gretap', 'ip6tnl', 'geneve'] as const;
export type TunnelKind = (typeof TUNNEL_KINDS)[number];

/** The kinds that carry Ethernet frames (the rest carry IP packets). */
export const L2_KINDS: readonly TunnelKind[] = ['gretap', 'ip6gretap', 'geneve'];
export const GRE_KINDS: readonly TunnelKind[] = ['gre', 'gretap', 'ip6gre', 'ip6gretap'];

/** The underlay family a kind speaks; geneve speaks both (the remote decides). */
export function kindFamily(kind: TunnelKind): Family | undefined {
  if (kind === 'geneve') return undefined;
  return kind.startsWith('ip6') ? 6 : 4;
}

/**
 * The devices the tunnel modules create in every namespace once loaded: the kernel's
 * fallback tunnels, which receive what no configured tunnel matches.
 */
export const FALLBACK_DEVICES: readonly string[] = [
  'tunl0',
  'gre0',
  'gretap0',
  'erspan0',
  'ip6tnl0',
  'ip6gre0',
  'sit0',
];

export interface TunnelSpec {
  readonly kind: TunnelKind;
  readonly remote: string;
  /** Not for geneve (the kernel's geneve has no local address or underlay link). */
  readonly local?: string | undefined;
  readonly underlay?: number | undefined;
  /** GRE kinds: the receive and send keys. */
  readonly ikey?: number | undefined;
  readonly okey?: number | undefined;
  /** geneve */
  readonly vni?: number | undefined;
  readonly port?: number | undefined;
  /** Hop limit for the IPv6 kinds; 0 = inherit. */
  readonly ttl?: number | undefined;
  /** Type of service (traffic class for the IPv6 kinds); 1 = inherit (IPv4 kinds). */
  readonly tos?: number | undefined;
  /** The IPv4 GRE and IPIP kinds: DF on the outer header. */
  readonly pmtudisc?: boolean | undefined;
  /** The IPv6 kinds (not geneve): the encapsulation limit option, or "none" to send none. */
  readonly encapLimit?: number | 'none' | undefined;
}

/** Bytes of outer headers over the underlay's MTU (the outer Ethernet header is not counted). */
export function tunnelOverhead(s: Pick<TunnelSpec, 'kind' | 'okey' | 'encapLimit' | 'remote'>): number {
  const key = s.okey !== undefined ? 4 : 0;
  const limitOption = s.encapLimit === 'none' ? 0 : 8;
  switch (s.kind) {
    case 'ipip':
      return 20;
    case 'gre':
      return 20 + 4 + key;
    case 'gretap':
      return 20 + 4 + key + 14;
    case 'ip6tnl':
      return 40 + limitOption;
    case 'ip6gre':
      return 40 + 4 + key + limitOption;
    case 'ip6gretap':
      return 40 + 4 + key + limitOption + 14;
    case 'geneve':
      return (parseIP(s.remote)?.family === 6 ? 40 : 20) + 8 + 8 + 14;
  }
}

const be32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const ipBuf = (s: string | undefined): Buffer | undefined => {
  const ip = s ? parseIP(s) : undefined;
  return ip ? Buffer.from(ip.bytes) : undefined;
};
/** IPv6 flowinfo carrying a traffic class (the upper 12 bits hold version and class). */
const flowinfo = (tclass: number): Buffer => be32((tclass & 0xff) << 20);

function greData(s: TunnelSpec): (Attr | undefined)[] {
  const v6 = kindFamily(s.kind) === 6;
  const local = ipBuf(s.local);
  const remote = ipBuf(s.remote);
  return [
    s.underlay !== undefined ? [IFLA_GRE.LINK, u32(s.underlay)] : undefined,
    local ? [IFLA_GRE.LOCAL, local] : undefined,
    remote ? [IFLA_GRE.REMOTE, remote] : undefined,
    [IFLA_GRE.IFLAGS, u16be(s.ikey !== undefined ? GRE_KEY : 0)],
    [IFLA_GRE.OFLAGS, u16be(s.okey !== undefined ? GRE_KEY : 0)],
    s.ikey !== undefined ? [IFLA_GRE.IKEY, be32(s.ikey)] : undefined,
    s.okey !== undefined ? [IFLA_GRE.OKEY, be32(s.okey)] : undefined,
    s.ttl !== undefined ? [IFLA_GRE.TTL, u8(s.ttl)] : undefined,
    !v6 && s.tos !== undefined ? [IFLA_GRE.TOS, u8(s.tos)] : undefined,
    v6 && s.tos !== undefined ? [IFLA_GRE.FLOWINFO, flowinfo(s.tos)] : undefined,
    !v6 && s.pmtudisc !== undefined ? [IFLA_GRE.PMTUDISC, u8(s.pmtudisc ? 1 : 0)] : undefined,
    v6 && typeof s.encapLimit === 'number' ? [IFLA_GRE.ENCAP_LIMIT, u8(s.encapLimit)] : undefined,
    v6 && s.encapLimit === 'none' ? [IFLA_GRE.FLAGS, u32(IP6_TNL_F_IGN_ENCAP_LIMIT)] : undefined,
  ];
}

function iptunData(s: TunnelSpec): (Attr | undefined)[] {
  const v6 = s.kind === 'ip6tnl';
  const local = ipBuf(s.local);
  const remote = ipBuf(s.remote);
  return [
    s.underlay !== undefined ? [IFLA_IPTUN.LINK, u32(s.underlay)] : undefined,
    local ? [IFLA_IPTUN.LOCAL, local] : undefined,
    remote ? [IFLA_IPTUN.REMOTE, remote] : undefined,
    s.ttl !== undefined ? [IFLA_IPTUN.TTL, u8(s.ttl)] : undefined,
    !v6 && s.tos !== undefined ? [IFLA_IPTUN.TOS, u8(s.tos)] : undefined,
    v6 && s.tos !== undefined ? [IFLA_IPTUN.FLOWINFO, flowinfo(s.tos)] : undefined,
    !v6 && s.pmtudisc !== undefined ? [IFLA_IPTUN.PMTUDISC, u8(s.pmtudisc ? 1 : 0)] : undefined,
    v6 && typeof s.encapLimit === 'number' ? [IFLA_IPTUN.ENCAP_LIMIT, u8(s.encapLimit)] : undefined,
    v6 && s.encapLimit === 'none' ? [IFLA_IPTUN.FLAGS, u32(IP6_TNL_F_IGN_ENCAP_LIMIT)] : undefined,
    // ip6tnl carries IPv4 and IPv6 alike ("any", protocol 0); ipip only IPv4
    v6 ? [IFLA_IPTUN.PROTO, u8(0)] : undefined,
  ];
}

function geneveData(s: TunnelSpec): (Attr | undefined)[] {
  const remote = parseIP(s.remote);
  return [
    [IFLA_GENEVE.ID, u32(s.vni ?? 0)],
    remote
      ? [remote.family === 4 ? IFLA_GENEVE.REMOTE : IFLA_GENEVE.REMOTE6, Buffer.from(remote.bytes)]
      : undefined,
    s.ttl !== undefined ? [IFLA_GENEVE.TTL, u8(s.ttl)] : undefined,
    s.tos !== undefined ? [IFLA_GENEVE.TOS, u8(s.tos)] : undefined,
    s.port !== undefined ? [IFLA_GENEVE.PORT, u16be(s.port)] : undefined,
  ];
}

/** IFLA_INFO_DATA for creating the tunnel `s` describes. */
export function tunnelData(s: TunnelSpec): (Attr | undefined)[] {
  if (s.kind === 'geneve') return geneveData(s);
  if (s.kind === 'ipip' || s.kind === 'ip6tnl') return iptunData(s);
  return greData(s);
}

export interface TunnelInfo {
  readonly local: string | undefined;
  readonly remote: string | undefined;
  readonly underlay: number | undefined;
  readonly ikey: number | undefined;
  readonly okey: number | undefined;
  readonly vni: number | undefined;
  readonly port: number | undefined;
  readonly ttl: number | undefined;
  readonly encapLimit: number | 'none' | undefined;
}

function ipAttr(b: Buffer | undefined): string | undefined {
  if (!b || (b.length !== 4 && b.length !== 16)) return undefined;
  const s = formatIP({ family: b.length === 4 ? 4 : 6, bytes: new Uint8Array(b) });
  return s === '0.0.0.0' || s === '::' ? undefined : s;
}
const readBe32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);

/** What the kernel reports of a tunnel link (for CHECK and clash detection). */
export function tunnelInfo(l: Link): TunnelInfo {
  const i = l.info;
  if (l.kind === 'geneve') {
    return {
      local: undefined,
      remote: ipAttr(i.get(IFLA_GENEVE.REMOTE)) ?? ipAttr(i.get(IFLA_GENEVE.REMOTE6)),
      underlay: undefined,
      ikey: undefined,
      okey: undefined,
      vni: readU32(i.get(IFLA_GENEVE.ID)),
      port: readU16be(i.get(IFLA_GENEVE.PORT)),
      ttl: readU8(i.get(IFLA_GENEVE.TTL)),
      encapLimit: undefined,
    };
  }
  if (l.kind === 'ipip' || l.kind === 'ip6tnl') {
    const flags = readU32(i.get(IFLA_IPTUN.FLAGS)) ?? 0;
    return {
      local: ipAttr(i.get(IFLA_IPTUN.LOCAL)),
      remote: ipAttr(i.get(IFLA_IPTUN.REMOTE)),
      underlay: readU32(i.get(IFLA_IPTUN.LINK)),
      ikey: undefined,
      okey: undefined,
      vni: undefined,
      port: undefined,
      ttl: readU8(i.get(IFLA_IPTUN.TTL)),
      encapLimit:
        l.kind === 'ip6tnl'
          ? flags & IP6_TNL_F_IGN_ENCAP_LIMIT
            ? 'none'
            : readU8(i.get(IFLA_IPTUN.ENCAP_LIMIT))
          : undefined,
    };
  }
  const keyed = (flagAttr: number) => ((readU16be(i.get(flagAttr)) ?? 0) & GRE_KEY) !== 0;
  const v6 = l.kind === 'ip6gre' || l.kind === 'ip6gretap';
  const flags = readU32(i.get(IFLA_GRE.FLAGS)) ?? 0;
  return {
    local: ipAttr(i.get(IFLA_GRE.LOCAL)),
    remote: ipAttr(i.get(IFLA_GRE.REMOTE)),
    underlay: readU32(i.get(IFLA_GRE.LINK)),
    ikey: keyed(IFLA_GRE.IFLAGS) ? readBe32(i.get(IFLA_GRE.IKEY)) : undefined,
    okey: keyed(IFLA_GRE.OFLAGS) ? readBe32(i.get(IFLA_GRE.OKEY)) : undefined,
    vni: undefined,
    port: undefined,
    ttl: readU8(i.get(IFLA_GRE.TTL)),
    encapLimit: v6
      ? flags & IP6_TNL_F_IGN_ENCAP_LIMIT
        ? 'none'
        : readU8(i.get(IFLA_GRE.ENCAP_LIMIT))
      : undefined,
  };
}
