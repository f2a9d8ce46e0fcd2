/**
 * Links: read, create (in the target namespace at creation), change, delete.
 * Kind-specific attributes (IFLA_INFO_DATA) are passed in and read back raw; the helpers in
 * kinds.ts encode and decode them per kind.
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { log } from '../util/log.ts';
import { isErrno, kernelFailure } from './errors.ts';
import type { NetNS } from './netns.ts';
import {
  type Attr,
  decodeAttrs,
  encodeAttrs,
  formatMac,
  parseMac,
  readS32,
  readStr,
  readU8,
  readU32,
  s32,
  str,
  u32,
} from './nl/attrs.ts';
import {
  AF_UNSPEC,
  IFF_PROMISC,
  IFF_UP,
  IFLA,
  IFLA_INFO,
  NLM_F,
  RTEXT_FILTER_SKIP_STATS,
  RTEXT_FILTER_VF,
  RTM,
  VETH_INFO_PEER,
} from './nl/constants.ts';
import { IFINFOMSG_LEN, ifinfomsg, parseIfinfomsg } from './nl/messages.ts';
import { deferRemoval } from './removals.ts';
import type { Rtnl } from './socket.ts';

export interface Link {
  readonly index: number;
  readonly name: string;
  readonly flags: number;
  readonly up: boolean;
  readonly mtu: number;
  readonly mac: string | undefined;
  readonly permMac: string | undefined;
  /** IFLA_MASTER: the bridge (or bond) this link is enslaved to. */
  readonly master: number | undefined;
  /** IFLA_LINK: the parent (macvlan/ipvlan/vlan master, veth peer index). */
  readonly parent: number | undefined;
  /** IFLA_LINK_NETNSID: set when the parent lives in another namespace. */
  readonly linkNetnsId: number | undefined;
  readonly kind: string | undefined;
  readonly slaveKind: string | undefined;
  /** IFLA_INFO_DATA attributes by type. */
  readonly info: ReadonlyMap<number, Buffer>;
  /** IFLA_INFO_SLAVE_DATA attributes by type (bridge port settings…). */
  readonly slaveInfo: ReadonlyMap<number, Buffer>;
  readonly numVf: number | undefined;
  /** Every attribute of the message, by type. */
  readonly attrs: ReadonlyMap<number, Buffer>;
  /** IFLA_IFALIAS: the free-text alias (`ip link set X alias …`), when set. */
  readonly alias?: string | undefined;
}

export function parseLink(data: Buffer): Link {
  const hdr = parseIfinfomsg(data);
  const attrs = decodeAttrs(data.subarray(IFINFOMSG_LEN));
  const linkinfo = attrs.get(IFLA.LINKINFO);
  const li = linkinfo ? decodeAttrs(linkinfo) : new Map<number, Buffer>();
  const infoData = li.get(IFLA_INFO.DATA);
  const slaveData = li.get(IFLA_INFO.SLAVE_DATA);
  return {
    index: hdr.index,
    name: readStr(attrs.get(IFLA.IFNAME)) ?? '',
    flags: hdr.flags,
    up: (hdr.flags & IFF_UP) !== 0,
    mtu: readU32(attrs.get(IFLA.MTU)) ?? 0,
    mac: formatMac(attrs.get(IFLA.ADDRESS)),
    permMac: formatMac(attrs.get(IFLA.PERM_ADDRESS)),
    master: readU32(attrs.get(IFLA.MASTER)),
    parent: readU32(attrs.get(IFLA.LINK)),
    linkNetnsId: readS32(attrs.get(IFLA.LINK_NETNSID)),
    kind: readStr(li.get(IFLA_INFO.KIND)),
    slaveKind: readStr(li.get(IFLA_INFO.SLAVE_KIND)),
    info: infoData ? decodeAttrs(infoData) : new Map(),
    slaveInfo: slaveData ? decodeAttrs(slaveData) : new Map(),
    numVf: readU32(attrs.get(IFLA.NUM_VF)),
    attrs,
    alias: readStr(attrs.get(IFLA.IFALIAS)) || undefined,
  };
}

/** IFLA_EXT_MASK of every link request: never the counters (nothing here reads them; ~40 % of a reply). */
function extMask(opts: GetOptions): Attr {
  return [IFLA.EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS | (opts.vfs ? RTEXT_FILTER_VF : 0))];
}

export async function list(h: Rtnl): Promise<Link[]> {
  const msgs = await h.dump(
    RTM.GETLINK,
    Buffer.concat([ifinfomsg({ family: AF_UNSPEC }), encodeAttrs([extMask({})])]),
  );
  return msgs.filter((m) => m.type === RTM.NEWLINK).map((m) => parseLink(m.data));
}

async function getOne(h: Rtnl, body: Buffer): Promise<Link | undefined> {
  try {
    const msgs = await h.request(RTM.GETLINK, body);
    const m = msgs.find((x) => x.type === RTM.NEWLINK);
    return m ? parseLink(m.data) : undefined;
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined;
    throw err;
  }
}

export interface GetOptions {
  /** Ask for IFLA_VFINFO_LIST (SR-IOV PFs). */
  readonly vfs?: boolean;
}

/** The link named `name`, or undefined. */
export async function byName(h: Rtnl, name: string, opts: GetOptions = {}): Promise<Link | undefined> {
  const attrs: Attr[] = [[IFLA.IFNAME, str(name)], extMask(opts)];
  try {
    return await getOne(h, Buffer.concat([ifinfomsg({}), encodeAttrs(attrs)]));
  } catch (err) {
    throw kernelFailure(`look up link ${q(name)}`, err);
  }
}

export async function byIndex(h: Rtnl, index: number, opts: GetOptions = {}): Promise<Link | undefined> {
  const attrs: Attr[] = [extMask(opts)];
  try {
    return await getOne(h, Buffer.concat([ifinfomsg({ index }), encodeAttrs(attrs)]));
  } catch (err) {
    throw kernelFailure(`look up link with index ${index}`, err);
  }
}

/** The link named `name`; a CNI error naming it (and where it was looked for) when missing. */
export async function mustByName(h: Rtnl, name: string, where = '', opts: GetOptions = {}): Promise<Link> {
  const link = await byName(h, name, opts);
  if (!link) {
    throw new CniError(
      Code.Internal,
      `failed to find link ${q(name)}${where ? ` ${where}` : ''}: no such device`,
    );
  }
  return link;
}

export interface NewLink {
  readonly name: string;
  readonly kind: string;
  /** IFLA_INFO_DATA attributes (kinds.ts builds them). */
  readonly data?: readonly (Attr | undefined)[];
  /** Raw IFLA_INFO_DATA payload, for kinds whose data is not plain attributes (veth). */
  readonly rawData?: Buffer;
  /** IFLA_LINK: parent link index, in the namespace of the socket sending the request. */
  readonly parent?: number;
  /** Create the link directly in this namespace (IFLA_NET_NS_FD). */
  readonly netns?: NetNS;
  /**
   * IFLA_LINK_NETNSID: the kernel makes the link in the namespace of this id (as the target
   * namespace numbers it) and then moves it to the target, in the same request (tunnels).
   */
  readonly linkNetnsId?: number;
  readonly mtu?: number;
  readonly mac?: string;
  readonly master?: number;
  readonly up?: boolean;
  readonly txqlen?: number;
}

function linkAttrs(spec: Omit<NewLink, 'kind'> & { kind?: string }): (Attr | undefined)[] {
  const info: (Attr | undefined)[] = spec.kind ? [[IFLA_INFO.KIND, str(spec.kind)]] : [];
  if (spec.rawData) info.push([IFLA_INFO.DATA, spec.rawData]);
  else if (spec.data && spec.data.length > 0) info.push([IFLA_INFO.DATA, spec.data]);
  return [
    [IFLA.IFNAME, str(spec.name)],
    spec.mtu ? [IFLA.MTU, u32(spec.mtu)] : undefined,
    spec.mac ? [IFLA.ADDRESS, parseMac(spec.mac)] : undefined,
    spec.parent !== undefined ? [IFLA.LINK, u32(spec.parent)] : undefined,
    spec.master !== undefined ? [IFLA.MASTER, u32(spec.master)] : undefined,
    spec.netns ? [IFLA.NET_NS_FD, u32(spec.netns.fd)] : undefined,
    spec.linkNetnsId !== undefined ? [IFLA.LINK_NETNSID, s32(spec.linkNetnsId)] : undefined,
    spec.txqlen !== undefined ? [IFLA.TXQLEN, u32(spec.txqlen)] : undefined,
    info.length > 0 ? [IFLA.LINKINFO, info] : undefined,
  ];
}

/**
 * Creates a link (NLM_F_EXCL: an existing name is EEXIST). `describe` names it in errors,
 * e.g. `macvlan on master "eth1"`.
 */
export async function create(
  h: Rtnl,
  spec: NewLink,
  describe = `${spec.kind} ${q(spec.name)}`,
): Promise<void> {
  const body = Buffer.concat([
    ifinfomsg({ flags: spec.up ? IFF_UP : 0, change: spec.up ? IFF_UP : 0 }),
    encodeAttrs(linkAttrs(spec)),
  ]);
  const done = log.step('link create', describe);
  try {
    await h.request(RTM.NEWLINK, body, NLM_F.CREATE | NLM_F.EXCL);
  } catch (err) {
    throw kernelFailure(`create ${describe}`, err);
  }
  done();
}

/** The peer half of a veth pair, for `vethData`. */
export interface VethPeer {
  readonly name: string;
  readonly netns?: NetNS;
  readonly mtu?: number;
  readonly mac?: string;
}

/** IFLA_INFO_DATA of a veth: VETH_INFO_PEER holding an ifinfomsg and the peer's attributes. */
export function vethData(peer: VethPeer): Buffer {
  const attrs = encodeAttrs(linkAttrs({ ...peer }));
  return encodeAttrs([[VETH_INFO_PEER, Buffer.concat([ifinfomsg({}), attrs])]]);
}

export interface LinkChange {
  readonly name?: string;
  readonly mtu?: number;
  readonly mac?: string;
  readonly up?: boolean;
  /** Promiscuous mode (IFF_PROMISC), as `ip link set promisc on|off` sets it. */
  readonly promisc?: boolean;
  /** Enslave to this index; 0 releases. */
  readonly master?: number;
  /** Move to this namespace. */
  readonly netns?: NetNS;
  readonly txqlen?: number;
  /** IFLA_INFO_SLAVE_DATA for the link's master kind (bridge port settings). */
  readonly slave?: { readonly kind: string; readonly data: readonly (Attr | undefined)[] };
  /** IFLA_IFALIAS (the kernel ignores it at creation, so it is set by a change); "" clears it. */
  readonly alias?: string;
}

/**
 * Changes a link in one request. The kernel applies a namespace move first and flags (up)
 * last, so rename-then-up in one change works.
 */
export async function set(
  h: Rtnl,
  index: number,
  change: LinkChange,
  describe = `link with index ${index}`,
): Promise<void> {
  const attrs: (Attr | undefined)[] = [
    change.netns ? [IFLA.NET_NS_FD, u32(change.netns.fd)] : undefined,
    change.name !== undefined ? [IFLA.IFNAME, str(change.name)] : undefined,
    change.mtu !== undefined ? [IFLA.MTU, u32(change.mtu)] : undefined,
    change.mac !== undefined ? [IFLA.ADDRESS, parseMac(change.mac)] : undefined,
    change.master !== undefined ? [IFLA.MASTER, u32(change.master)] : undefined,
    change.txqlen !== undefined ? [IFLA.TXQLEN, u32(change.txqlen)] : undefined,
    change.alias !== undefined ? [IFLA.IFALIAS, Buffer.from(change.alias)] : undefined,
    change.slave
      ? [
          IFLA.LINKINFO,
          [
            [IFLA_INFO.SLAVE_KIND, str(change.slave.kind)],
            [IFLA_INFO.SLAVE_DATA, change.slave.data],
          ],
        ]
      : undefined,
  ];
  const flags =
    change.up === undefined && change.promisc === undefined
      ? {}
      : {
          flags: (change.up ? IFF_UP : 0) | (change.promisc ? IFF_PROMISC : 0),
          change: (change.up === undefined ? 0 : IFF_UP) | (change.promisc === undefined ? 0 : IFF_PROMISC),
        };
  try {
    await h.request(RTM.NEWLINK, Buffer.concat([ifinfomsg({ index, ...flags }), encodeAttrs(attrs)]));
  } catch (err) {
    throw kernelFailure(changeWhat(change, describe), err);
  }
}

function changeWhat(c: LinkChange, link: string): string {
  if (c.netns) return `move ${link} to netns ${q(c.netns.path)}`;
  if (c.name !== undefined) return `rename ${link} to ${q(c.name)}`;
  if (c.mtu !== undefined) return `set MTU ${c.mtu} on ${link}`;
  if (c.mac !== undefined) return `set MAC ${c.mac} on ${link}`;
  if (c.master !== undefined)
    return c.master ? `attach ${link} to master with index ${c.master}` : `detach ${link}`;
  if (c.up !== undefined) return `set ${link} ${c.up ? 'up' : 'down'}`;
  if (c.promisc !== undefined) return `set promiscuous mode ${c.promisc ? 'on' : 'off'} on ${link}`;
  if (c.alias !== undefined) return `set alias ${q(c.alias)} on ${link}`;
  return `change ${link}`;
}

/**
 * Deletes a link; an already missing link is not an error. Inside `batchRemovals` (removals.ts)
 * a link in a pod's namespace is deleted with the others of its namespace when the batch ends.
 */
export async function remove(h: Rtnl, index: number, describe = `link with index ${index}`): Promise<void> {
  if (await deferRemoval(h, index, describe)) return;
  try {
    await h.request(RTM.DELLINK, ifinfomsg({ index }));
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return;
    throw kernelFailure(`delete ${describe}`, err);
  }
}

/** Reads the operstate (IF_OPER_*) of a link. */
export function operstate(link: Link): number | undefined {
  return readU8(link.attrs.get(IFLA.OPERSTATE));
}
