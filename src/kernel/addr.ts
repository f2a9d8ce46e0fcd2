/** IPv4 and IPv6 addresses on links. */

import { q } from '../cni/errors.ts';
import { formatIP, type IPNet, lastOf, parseCIDR } from '../ip/ip.ts';
import { isErrno, kernelFailure } from './errors.ts';
import { decodeAttrs, encodeAttrs, readStr, readU32, str, u32 } from './nl/attrs.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, IFA, IFA_F, NLM_F, RTM } from './nl/constants.ts';
import { IFADDRMSG_LEN, ifaddrmsg, parseIfaddrmsg } from './nl/messages.ts';
import type { Rtnl } from './socket.ts';

export interface Address {
  readonly index: number;
  /** CIDR, e.g. `10.1.0.5/24`. */
  readonly cidr: string;
  readonly family: 4 | 6;
  readonly scope: number;
  readonly flags: number;
  readonly label: string | undefined;
}

function ipBytes(n: IPNet): Buffer {
  return Buffer.from(n.ip.bytes);
}

export async function list(h: Rtnl, filter: { index?: number; family?: 4 | 6 } = {}): Promise<Address[]> {
  const family = filter.family === 4 ? AF_INET : filter.family === 6 ? AF_INET6 : AF_UNSPEC;
  const msgs = await h.dump(RTM.GETADDR, ifaddrmsg({ family, prefixlen: 0, index: 0 }));
  const out: Address[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWADDR) continue;
    const hdr = parseIfaddrmsg(m.data);
    if (filter.index !== undefined && hdr.index !== filter.index) continue;
    const attrs = decodeAttrs(m.data.subarray(IFADDRMSG_LEN));
    const raw = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
    if (!raw) continue;
    const fam = hdr.family === AF_INET ? 4 : 6;
    if (filter.family && fam !== filter.family) continue;
    const ip = formatIP({ family: fam, bytes: new Uint8Array(raw) });
    out.push({
      index: hdr.index,
      cidr: `${ip}/${hdr.prefixlen}`,
      family: fam,
      scope: hdr.scope,
      flags: readU32(attrs.get(IFA.FLAGS)) ?? hdr.flags,
      label: readStr(attrs.get(IFA.LABEL)),
    });
  }
  return out;
}

export interface AddOptions {
  /** Skip duplicate address detection (IPv6). */
  readonly noDad?: boolean;
  readonly label?: string;
  /** Accept an address that is already there. */
  readonly mayExist?: boolean;
}

/** Adds `cidr` to the link; IPv4 gets the broadcast address of its prefix, as the reference does. */
export async function add(
  h: Rtnl,
  index: number,
  cidr: string,
  link: string,
  opts: AddOptions = {},
): Promise<void> {
  const n = parseCIDR(cidr);
  if (!n) throw kernelFailure(`add address ${q(cidr)} to ${link}`, new Error('not a CIDR'));
  const v4 = n.ip.family === 4;
  const flags = opts.noDad ? IFA_F.NODAD : 0;
  const body = Buffer.concat([
    ifaddrmsg({ family: v4 ? AF_INET : AF_INET6, prefixlen: n.prefix, flags, index }),
    encodeAttrs([
      [IFA.LOCAL, ipBytes(n)],
      [IFA.ADDRESS, ipBytes(n)],
      v4 && n.prefix < 31 ? [IFA.BROADCAST, Buffer.from(lastOf(n).bytes)] : undefined,
      opts.label ? [IFA.LABEL, str(opts.label)] : undefined,
      flags ? [IFA.FLAGS, u32(flags)] : undefined,
    ]),
  ]);
  try {
    await h.request(RTM.NEWADDR, body, NLM_F.CREATE | (opts.mayExist ? NLM_F.REPLACE : NLM_F.EXCL));
  } catch (err) {
    throw kernelFailure(`add address ${q(cidr)} to ${link}`, err);
  }
}

/** Removes `cidr` from the link; a missing address is not an error. */
export async function remove(h: Rtnl, index: number, cidr: string, link: string): Promise<void> {
  const n = parseCIDR(cidr);
  if (!n) return;
  const body = Buffer.concat([
    ifaddrmsg({ family: n.ip.family === 4 ? AF_INET : AF_INET6, prefixlen: n.prefix, index }),
    encodeAttrs([[IFA.LOCAL, ipBytes(n)]]),
  ]);
  try {
    await h.request(RTM.DELADDR, body);
  } catch (err) {
    if (isErrno(err, 'EADDRNOTAVAIL', 'ENODEV', 'ESRCH')) return;
    throw kernelFailure(`remove address ${q(cidr)} from ${link}`, err);
  }
}
