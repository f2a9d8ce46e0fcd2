/** rtnetlink numbers from the kernel's uapi headers (linux/rtnetlink.h, if_link.h, neighbour.h…). */

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP_INTR: 0x10,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
  NEWRULE: 32,
  DELRULE: 33,
  GETRULE: 34,
} as const;

export const IFF_UP = 0x1;
/** No ARP/NDP on the link (ipvlan L3, point-to-point devices). */
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;

export const IFLA = {
  ADDRESS: 1,
  BROADCAST: 2,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  PROTINFO: 12,
  TXQLEN: 13,
  OPERSTATE: 16,
  LINKINFO: 18,
  NET_NS_PID: 19,
  IFALIAS: 20,
  NUM_VF: 21,
  VFINFO_LIST: 22,
  NET_NS_FD: 28,
  EXT_MASK: 29,
  PROMISCUITY: 30,
  AF_SPEC: 26,
  GROUP: 27,
  LINK_NETNSID: 37,
  MIN_MTU: 50,
  MAX_MTU: 51,
  PERM_ADDRESS: 54,
} as const;

export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;

export const RTEXT_FILTER_VF = 1;
export const RTEXT_FILTER_BRVLAN = 2;
/** No IFLA_STATS/IFLA_STATS64 in link replies (kernels without it ignore the bit). */
export const RTEXT_FILTER_SKIP_STATS = 8;

export const IFLA_MACVLAN = { MODE: 1, FLAGS: 2, BC_QUEUE_LEN: 7 } as const;
export const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;

export const IFLA_IPVLAN = { MODE: 1, FLAGS: 2 } as const;
export const IPVLAN_MODE = { l2: 0, l3: 1, l3s: 2 } as const;
export const IPVLAN_F = { bridge: 0, private: 1, vepa: 2 } as const;

export const VETH_INFO_PEER = 1;

export const IFLA_VXLAN = {
  ID: 1,
  GROUP: 2,
  LINK: 3,
  LOCAL: 4,
  TTL: 5,
  TOS: 6,
  LEARNING: 7,
  AGEING: 8,
  LIMIT: 9,
  PORT_RANGE: 10,
  PROXY: 11,
  RSC: 12,
  L2MISS: 13,
  L3MISS: 14,
  PORT: 15,
  GROUP6: 16,
  LOCAL6: 17,
  UDP_CSUM: 18,
  UDP_ZERO_CSUM6_TX: 19,
  UDP_ZERO_CSUM6_RX: 20,
} as const;

export const IFLA_BR = { VLAN_FILTERING: 7, VLAN_DEFAULT_PVID: 39 } as const;

export const IFLA_BRPORT = { MODE: 4, LEARNING: 8, UNICAST_FLOOD: 9, ISOLATED: 33 } as const;

export const IFLA_BRIDGE = { FLAGS: 0, MODE: 1, VLAN_INFO: 2 } as const;
export const BRIDGE_FLAGS_MASTER = 1;
export const BRIDGE_FLAGS_SELF = 2;
export const BRIDGE_VLAN_INFO = { MASTER: 1, PVID: 2, UNTAGGED: 4, RANGE_BEGIN: 8, RANGE_END: 16 } as const;

export const IFLA_VF_INFO = 1;
export const IFLA_VF = {
  MAC: 1,
  VLAN: 2,
  TX_RATE: 3,
  SPOOFCHK: 4,
  LINK_STATE: 5,
  RATE: 6,
  RSS_QUERY_EN: 7,
  STATS: 8,
  TRUST: 9,
  IB_NODE_GUID: 10,
  IB_PORT_GUID: 11,
  VLAN_LIST: 12,
  BROADCAST: 13,
} as const;
export const IFLA_VF_VLAN_INFO = 1;
export const VF_LINK_STATE = { auto: 0, enable: 1, disable: 2 } as const;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const IFA_F = { NODAD: 0x02, DADFAILED: 0x08, PERMANENT: 0x80, TENTATIVE: 0x40 } as const;

export const RTA = {
  DST: 1,
  SRC: 2,
  IIF: 3,
  OIF: 4,
  GATEWAY: 5,
  PRIORITY: 6,
  PREFSRC: 7,
  METRICS: 8,
  MULTIPATH: 9,
  TABLE: 15,
} as const;
export const RTAX = { MTU: 2, ADVMSS: 8 } as const;
export const RT_TABLE_MAIN = 254;
export const RT_SCOPE = { UNIVERSE: 0, SITE: 200, LINK: 253, HOST: 254 } as const;
export const RTPROT = { KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
export const RTN_UNICAST = 1;
export const RTNH_F_ONLINK = 4;

export const NDA = {
  DST: 1,
  LLADDR: 2,
  CACHEINFO: 3,
  PROBES: 4,
  VLAN: 5,
  PORT: 6,
  VNI: 7,
  IFINDEX: 8,
  MASTER: 9,
} as const;
export const NUD = { INCOMPLETE: 0x01, REACHABLE: 0x02, STALE: 0x04, NOARP: 0x40, PERMANENT: 0x80 } as const;
export const NTF = { USE: 0x01, SELF: 0x02, MASTER: 0x04, PROXY: 0x08, EXT_LEARNED: 0x10 } as const;

/** Routing policy rules (linux/fib_rules.h). */
export const FRA = { DST: 1, SRC: 2, PRIORITY: 6, TABLE: 15, PROTOCOL: 21 } as const;
export const FR_ACT_TO_TBL = 1;

export const CLONE_NEWNET = 0x40000000;

/** Peer namespace ids (linux/net_namespace.h): RTM_NEWNSID/GETNSID and their attributes. */
export const RTM_NSID = { NEW: 88, GET: 90 } as const;
export const NETNSA = { NSID: 1, PID: 2, FD: 3 } as const;
/** NETNSA_NSID_NOT_ASSIGNED: in a request, "allocate one"; in a reply, "none". */
export const NSID_NOT_ASSIGNED = -1;

/** IP-in-IP and ip6tnl link data (linux/if_tunnel.h IFLA_IPTUN_*). */
export const IFLA_IPTUN = {
  LINK: 1,
  LOCAL: 2,
  REMOTE: 3,
  TTL: 4,
  TOS: 5,
  ENCAP_LIMIT: 6,
  FLOWINFO: 7,
  FLAGS: 8,
  PROTO: 9,
  PMTUDISC: 10,
} as const;

/** GRE link data, IPv4 and IPv6, tap or not (linux/if_tunnel.h IFLA_GRE_*). */
export const IFLA_GRE = {
  LINK: 1,
  IFLAGS: 2,
  OFLAGS: 3,
  IKEY: 4,
  OKEY: 5,
  LOCAL: 6,
  REMOTE: 7,
  TTL: 8,
  TOS: 9,
  PMTUDISC: 10,
  ENCAP_LIMIT: 11,
  FLOWINFO: 12,
  FLAGS: 13,
} as const;
/** GRE_KEY in IFLA_GRE_IFLAGS/OFLAGS (a __be16 of the GRE header's flag bits). */
export const GRE_KEY = 0x2000;
/** IP6_TNL_F_IGN_ENCAP_LIMIT in IFLA_*_FLAGS of the IPv6 tunnels: send no encapsulation limit option. */
export const IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1;

/** Geneve link data (linux/if_link.h IFLA_GENEVE_*). */
export const IFLA_GENEVE = {
  ID: 1,
  REMOTE: 2,
  TTL: 3,
  TOS: 4,
  PORT: 5,
  REMOTE6: 7,
} as const;
